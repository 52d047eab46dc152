# broker/: burrowd (SSH front end, sessions, VM manager) and burrowctl.
# Everything but the two entry points goes into libbroker.a.
BURROWD_SRCS   += broker/burrowd.c
BURROWCTL_SRCS += $(wildcard broker/ctl/*.c)
BROKER_SRCS    += $(filter-out $(BURROWD_SRCS),$(wildcard broker/*.c))
# HMAC-SHA1 for TOTP (broker/totp.c) and certificate signatures (broker/usercert.c):
# OpenSSL's libcrypto, which libssh links already.
HOST_LDLIBS    += -lcrypto
DEB_PKGS       += libssl-dev
# What broker/config.c calls to check values, for harnesses that link it alone.
CONFIG_VALUE_SRCS := broker/sshalgo.c broker/envpolicy.c broker/authflow.c
# Where `make install` puts the guest image (guest/module.mk): burrowd's fallback.
$(B)/obj/broker/master.o: HOST_CFLAGS += -DBURROW_GUEST_DIR='"$(BURROW_GUEST_DIR)"'

# ---- make run: the README's first command (`make deps run`) ----------------
# Builds everything, prepares the default template (kvm where hardware
# virtualization is real and a kvm backend is built; otherwise the sandbox
# backend with the guest image), creates the demo user with a key under
# build/demo/, and runs burrowd on port 2222 in the foreground.
# run_dir lives under /run: session processes run unprivileged after auth and
# must be able to reach run_dir/vm/<id>/vsock.sock (a checkout under /root,
# mode 0700, would not be searchable).
RUN_PORT ?= 2222
RUN_DIR  ?= /run/burrow-demo
.PHONY: run
run: all $(SANDBOX_IMAGE)
	@B=$(B) RUN_PORT=$(RUN_PORT) RUN_DIR=$(RUN_DIR) SANDBOX_IMAGE=$(SANDBOX_IMAGE) broker/run.sh

INSTALL_HOOKS += install-systemd
.PHONY: install-systemd
install-systemd:
	install -d -m 0755 $(DESTDIR)/lib/systemd/system
	install -m 0644 systemd/burrowd.service $(DESTDIR)/lib/systemd/system/burrowd.service
