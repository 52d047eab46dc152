# tests/hw: the real-hardware tier (`make test-hw`, not part of `make test`).
# On a host with VMX/SVM, the nested tier's Linux-guest cases run directly on
# the host's KVM; elsewhere it fails loudly, saying why.
.PHONY: test-hw
test-hw: all $(NESTED_DEPS)
	B=$(B) tests/hw/test-hw
