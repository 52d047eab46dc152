# broker/: burrowd (SSH front end, sessions, VM manager) and burrowctl.
# Everything but the two entry points goes into libbroker.a.
BURROWD_SRCS   += broker/burrowd.c
BURROWCTL_SRCS += $(wildcard broker/ctl/*.c)
BROKER_SRCS    += $(filter-out $(BURROWD_SRCS),$(wildcard broker/*.c))
