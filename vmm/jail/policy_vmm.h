/*
 * vmm/jail/policy_vmm.h - the VMM process's seccomp policies, per thread role.
 *
 * Owns: which syscalls a jailed VMM may make. The process policy is loaded
 * by the main thread after the jail and before any thread starts (every
 * thread inherits it); each thread then stacks its role policy on top
 * (vmm_policy_thread_enter): vCPU threads may only issue the KVM ioctls a
 * running vCPU needs, the event thread only the irq/eventfd ones.
 */
#ifndef BURROW_VMM_JAIL_POLICY_VMM_H
#define BURROW_VMM_JAIL_POLICY_VMM_H

#include "vmm/jail/seccomp.h"

enum vmm_role { VMM_ROLE_VCPU, VMM_ROLE_EVENT };

extern const struct sc_policy vmm_policy_process;
extern const struct sc_policy vmm_policy_vcpu;
extern const struct sc_policy vmm_policy_event;

/*
 * Load the process policy (before threads exist) and arm the role filters:
 * from now on vmm_policy_thread_enter() installs them in new threads.
 */
__attribute__((warn_unused_result)) int vmm_policy_enter(enum sc_mode mode);
/* Called first thing by each VMM thread; a no-op unless vmm_policy_enter ran. */
void vmm_policy_thread_enter(enum vmm_role role);

#endif /* BURROW_VMM_JAIL_POLICY_VMM_H */
