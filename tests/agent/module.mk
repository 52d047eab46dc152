# tests/agent/: tier `test-agent` - burrow-agent (the static guest binary) on
# the host over unix sockets, as root, with real ptys and shells; then the
# default image checks (tier `test-image`, builds the image on first use).
AGENT_TEST_BIN := $(B)/tests/agent/agent-test
AGENT_TEST_SRCS := tests/agent/agent_test.c tests/agent/client.c

AGENT_TEST_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(AGENT_TEST_SRCS))

# (host_obj/LIBCOMMON are defined after the fragments: spell the paths out.)
$(AGENT_TEST_BIN): $(AGENT_TEST_OBJS) $(B)/lib/libcommon.a
	@mkdir -p $(@D)
	$(CC) $(HOST_LDFLAGS) -o $@ $^

.PHONY: test-agent
test-agent: $(AGENT_TEST_BIN) $(B)/guest/burrow-agent
	tests/agent/run-agent-tests.sh $(AGENT_TEST_BIN) $(B)/guest/burrow-agent $(B)/test-results

TEST_TIERS += test-agent
