# tests/cli/: burrowctl driven from the shell against a temporary state dir:
# exit codes 0/1/2 and one-line errors of the user commands (~3 s).
TEST_TIERS += test-cli

.PHONY: test-cli
test-cli: $(B)/bin/burrowctl
	tests/cli/run-cli $(B)/bin/burrowctl $(B)/test-results
