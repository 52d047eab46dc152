# tests/fuzz/: libFuzzer harnesses (`make fuzz`); one line per harness.
FUZZERS += authkeys config
FUZZ_SRCS_authkeys := broker/authkeys.c $(COMMON_SRCS)
FUZZ_SRCS_config := broker/config.c broker/config_ini.c broker/cli.c $(COMMON_SRCS)
