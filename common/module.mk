# common/: what broker, vmm and guest all link. Built for the host into
# libcommon.a and, by guest/module.mk, with musl for the static guest binaries.
COMMON_SRCS += $(wildcard common/*.c)
