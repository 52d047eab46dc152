# tests/testguest/: the freestanding x86-64 test guest (ELF, loaded by the
# VMM's ELF loader at 1 MiB, entered in 64-bit mode; main work at CPL3).
TESTGUEST := $(B)/tests/testguest
TESTGUEST_SRCS := tests/testguest/entry.S tests/testguest/main.c tests/testguest/agent_mode.c \
	tests/testguest/agent_session.c tests/testguest/agent_vq.c tests/testguest/tg_libc.c \
	tests/testguest/cpu.c tests/testguest/virtio.c tests/testguest/vsock_mode.c tests/testguest/dev_modes.c tests/testguest/balloon.c \
	common/buf.c common/proto.c
TESTGUEST_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -O2 -g -I. -ffreestanding -fno-pic \
	-fno-pie -mno-red-zone -mgeneral-regs-only -fno-stack-protector -fno-builtin \
	-fno-asynchronous-unwind-tables -mcmodel=small
ALL_TARGETS += $(TESTGUEST)

$(TESTGUEST): $(TESTGUEST_SRCS) common/buf.h common/proto.h tests/testguest/abi.h tests/testguest/agent.h tests/testguest/console.h \
	tests/testguest/cpu.h tests/testguest/virtio.h tests/testguest/testguest.ld
	@mkdir -p $(@D)
	$(CC) $(TESTGUEST_CFLAGS) -nostdlib -static -no-pie -Wl,-T,tests/testguest/testguest.ld \
		-Wl,--build-id=none -Wa,--noexecstack -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments -o $@ $(TESTGUEST_SRCS)
