# tests/agent/: tier `test-agent` - burrow-agent (the static guest binary) on
# the host over unix sockets, as root, with real ptys and shells; then the
# default image checks (tier `test-image`, builds the image on first use).
AGENT_TEST_BIN := $(B)/tests/agent/agent-test
AGENT_TEST_SRCS := $(wildcard tests/agent/*.c)

AGENT_TEST_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(AGENT_TEST_SRCS))

# (host_obj/LIBCOMMON are defined after the fragments: spell the paths out.)
$(AGENT_TEST_BIN): $(AGENT_TEST_OBJS) $(B)/lib/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $^

.PHONY: test-agent
test-agent: $(AGENT_TEST_BIN) $(B)/guest/burrow-agent
	tests/agent/run-agent-tests.sh $(AGENT_TEST_BIN) $(B)/guest/burrow-agent $(B)/test-results

TEST_TIERS += test-agent

# Image checks: builds the default image (fetching the kernel once into build/).
.PHONY: test-image
test-image: $(B)/guest/burrow-init $(B)/guest/burrow-agent $(AGENT_TEST_BIN)
	tests/agent/check-image.sh $(B) $(B)/test-results

TEST_TIERS += test-image

# libFuzzer harness for the protocol codec (tests/fuzz/proto.c).
FUZZERS += proto
FUZZ_SRCS_proto := common/proto.c common/buf.c common/err.c

# Throughput and session latency of the agent against fork+exec with plain
# pipes, measured in the same run (root).
.PHONY: bench-agent
bench-agent: $(AGENT_TEST_BIN) $(B)/guest/burrow-agent
	$(AGENT_TEST_BIN) --bench $(B)/guest/burrow-agent 2>/dev/null

BENCHES += bench-agent
