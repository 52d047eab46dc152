# tests/kvm/nested-linux-boot.sh KERNEL TAG reboot|poweroff - the body of
# the nested Linux boot cases (tests/nested/cases/1[01]-vmm-linux-*.sh),
# sourced inside L1 after caselib.sh, in the case's scratch directory.
#
# Debian's cloud kernel (KERNEL: the bzImage, or the vmlinux ELF entered
# through PVH) with a tiny busybox initramfs boots in `burrowctl vm boot`
# under a real KVM to /init, prints a marker and then either reboots
# through the i8042 (reboot=k) or powers off through ACPI S5 (the FADT's
# sleep control register and \_S5); either way `vm boot` exits 0. The kernel's log must show our e820 map,
# our command line, our ACPI tables (RSDP, XSDT, FACP, APIC, DSDT), both
# vCPUs from the MADT, COM1 and the CMOS RTC from the DSDT (with the host's
# date). The console is kept in $NESTED_BUILD/test-results/nested-linux-TAG.log.
kernel=$1 tag=$2 action=$3
case $action in
reboot) stopped="VM stopped: i8042 reset" ;;
poweroff) stopped="VM stopped: ACPI S5 power-off" ;;
*) fail "nested-linux-boot.sh: action must be reboot or poweroff, not '$action'" ;;
esac
ctl=$NESTED_BUILD/bin/burrowctl
[ -x "$ctl" ] || fail "$ctl is not built"
[ -e "$kernel" ] || fail "$kernel is missing: run make vmm-test-kernel"
bb=$(command -v busybox) || fail "busybox is not installed"
mkdir -p ir/bin ir/proc
cp "$bb" ir/bin/busybox
cat >ir/init <<INIT
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
echo "burrow-vmm-linux: init reached; cmdline: \$(/bin/busybox cat /proc/cmdline)"
/bin/busybox $action -f
INIT
chmod +x ir/init
(cd ir && find . | cpio -o -H newc 2>/dev/null | gzip -1) >initrd.gz || fail "cannot build the initramfs"
cmdline="console=ttyS0 reboot=k panic=-1 burrow.test=linux-$tag"
mkdir -p "$NESTED_BUILD/test-results"

# L1's KVM trace of the boot. kvm_amd re-initialises a vCPU after a triple
# fault, so what `vm boot -v` can read afterwards is the INIT state; L1's
# kvm_exit events still hold the faulting RIP, the exits that led there and
# the event being delivered (intr_info). Costs no measurable time here.
ktrace=/sys/kernel/tracing ktrace_events="kvm_exit kvm_inj_exception kvm_inj_virq kvm_page_fault kvm_msr kvm_hypercall"
ktrace_set() { # 1|0
    [ -n "$ktrace" ] || return 0
    local e
    echo 0 >"$ktrace/tracing_on"
    for e in $ktrace_events; do echo "$1" >"$ktrace/events/kvm/$e/enable"; done
    [ "$1" = 1 ] && echo >"$ktrace/trace" && echo 1 >"$ktrace/tracing_on"
    return 0
}
{ mountpoint -q "$ktrace" || mount -t tracefs nodev "$ktrace"; } 2>/dev/null &&
    [ -d "$ktrace/events/kvm" ] && echo 4096 >"$ktrace/buffer_size_kb" && ktrace_set 1 || {
    echo "note: no kvm trace in L1 (tracefs or kvm events missing)"; ktrace=; }

# keep_trace RC SUFFIX: after a failed boot, keep L1's trace whole (as
# test-results/nested-linux-TAG.SUFFIXkvmtrace) and show a dying vCPU's
# last exits, or after a hang (stopped by `timeout`) every vCPU's last ones.
keep_trace() {
    local rc=$1 kept=nested-linux-$tag.$2kvmtrace dead v
    [ -n "$ktrace" ] && [ "$rc" != 0 ] || return 0
    dead=$(sed -n 's/.*VM stopped: vCPU \([0-9]*\): \(triple fault\|KVM internal error\|VM entry failed\).*/\1/p' err.log)
    echo 0 >"$ktrace/tracing_on"
    cp "$ktrace/trace" "$NESTED_BUILD/test-results/$kept" 2>/dev/null
    for v in ${dead:-0 1}; do
        echo "L1 kvm trace, vCPU $v's last events (all: test-results/$kept):"
        grep -E "^ *vcpu$v-[0-9]+ " "$ktrace/trace" | tail -n "$([ -n "$dead" ] && echo 25 || echo 8)"
    done
}

# An L2 that hangs (exit 124) under TCG's emulated SVM (docs/testing.md,
# "The case-10 flake": a lost timer, or a CR3 with bit 32 set in an endless
# nested page-fault loop) gets one more boot, after its evidence is printed;
# any other failure fails at once (run-cases reruns a case whose L2 guest
# triple-faulted).
for attempt in 1 2; do
    t0=${EPOCHREALTIME/./}
    timeout 150 "$ctl" -v vm boot --kernel "$kernel" --initrd initrd.gz --mem 512 --vcpus 2 \
        --cmdline "$cmdline" >console.log 2>err.log </dev/null
    rc=$?
    t1=${EPOCHREALTIME/./}
    [ "$rc" = 124 ] && [ "$attempt" = 1 ] || break
    echo "note: boot 1 hung (150 s); console tail, vCPU state and L1's trace follow; booting once more"
    tail -n 6 console.log | tr -d '\r'
    grep -E "at stop|VM stopped" err.log
    keep_trace "$rc" boot1.
    ktrace_set 1
done
keep_trace "$rc" ""
ktrace_set 0
[ -n "$ktrace" ] && echo >"$ktrace/trace"
tr -d '\r' <console.log >log
cp log "$NESTED_BUILD/test-results/nested-linux-$tag.log"
echo "vm boot ($tag): exit $rc after $(((t1 - t0) / 1000)) ms; $(wc -c <log) console bytes"
grep -q "burrow-vmm-linux: init reached" log || {
    tail -n 15 log; cat err.log; fail "the kernel did not reach /init (exit $rc)"; }
[ "$rc" = 0 ] || { tail -n 15 log; cat err.log; }
expect_eq "vm boot exit status after $action" "$rc" 0
grep -q "$stopped" err.log || fail "want '$stopped' from vm boot -v, got: $(cat err.log)"
for want in "Command line: $cmdline" \
    "BIOS-e820: \[mem 0x0000000000000000-0x000000000009fbff\] usable" \
    "BIOS-e820: \[mem 0x0000000000100000-0x000000001fffffff\] usable" \
    "ACPI: RSDP 0x00000000000E0000" "ACPI: XSDT 0x" "ACPI: FACP 0x" "ACPI: APIC 0x" \
    "ACPI: DSDT 0x" "smp: Brought up 1 node, 2 CPUs" \
    "ttyS0 at I/O 0x3f8" "rtc_cmos 00:01: setting system clock to $(date -u +%F)"; do
    grep -q -- "$want" log || { grep -E "e820|ACPI|smp" log | head -n 30; fail "log lacks '$want'"; }
done
echo "Linux ($tag) booted to /init in Burrow's VMM; $action: $stopped"
