# vmm/: the KVM VMM library (linked into burrowd and burrowctl).
VMM_SRCS += $(wildcard vmm/*.c vmm/*/*.c vmm/*/*/*.c)
DEB_PKGS += acpica-tools
