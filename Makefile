# mod_sse_assistant — build with apxs. Targets: all install check-core unit
# guards test demo bench fuzz clean. `make WERROR=0` drops -Werror.
APXS     ?= $(shell command -v apxs 2>/dev/null || echo /usr/bin/apxs)
HTTPD    ?= $(shell $(APXS) -q SBINDIR 2>/dev/null)/$(shell $(APXS) -q TARGET 2>/dev/null)
CC       ?= cc
WERROR   ?= 1
DESTCONF ?= /etc/apache2/mods-available
# packagers: make install DESTDIR=debian/tmp
DESTDIR  ?=
LIBEXECDIR := $(shell $(APXS) -q LIBEXECDIR 2>/dev/null)

WARN = -Wall -Wextra -Wno-unused-parameter -Wmissing-prototypes \
       -Wstrict-prototypes -Wshadow -Wformat=2 -Wvla -Wpointer-arith \
       -Wwrite-strings -Wundef -Wsign-compare -Wdeclaration-after-statement
ifeq ($(WERROR),1)
WARN += -Werror
endif

PKGS      = libcurl jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
APR_CFLAGS := $(shell apr-1-config --includes --cppflags) $(shell apu-1-config --includes)
APR_LIBS   := $(shell apr-1-config --link-ld --libs) $(shell apu-1-config --link-ld --libs)

# httpd-free core: built by check-core with no httpd include path at all
CORE_SRCS = modules/sse_json.c modules/sse_event.c modules/sse_upstream.c \
            modules/sse_curl.c modules/sse_request.c modules/sse_id.c \
            modules/sse_limits.c modules/sse_turn.c modules/sse_tools.c \
            modules/sse_tool_exec.c modules/sse_ws.c \
            modules/sse_event_reader.c
GLUE_SRCS = modules/sse_conf.c modules/sse_handler.c \
            modules/sse_transport_sse.c modules/sse_owner.c \
            modules/sse_memory.c modules/sse_transport_json.c \
            modules/sse_store.c modules/sse_bridge.c modules/sse_resume.c \
            modules/sse_transport_ws.c modules/sse_status.c
HEADERS   = $(wildcard include/*.h)

comma := ,
MODULE = .libs/mod_sse_assistant.so

BUILD = build
UNIT_TESTS = $(patsubst t/unit/%.c,$(BUILD)/unit/%,$(wildcard t/unit/test_*.c))
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer

.PHONY: all install check-core unit guards test apache-test demo bench fuzz clean tools

all: $(MODULE) tools

$(MODULE): mod_sse_assistant.c $(CORE_SRCS) $(GLUE_SRCS) $(HEADERS)
	@echo "  APXS  mod_sse_assistant.so"; mkdir -p $(BUILD)
	@$(APXS) -c -o mod_sse_assistant.la -Iinclude \
	    $(addprefix -Wc$(comma),$(WARN) -std=gnu99 -O2 $(PKG_CFLAGS)) \
	    mod_sse_assistant.c $(CORE_SRCS) $(GLUE_SRCS) $(PKG_LIBS) \
	    >$(BUILD)/apxs.log 2>&1 || { cat $(BUILD)/apxs.log; exit 1; }

tools: $(BUILD)/fake-openai $(BUILD)/sse-bench

$(BUILD)/fake-openai: bench/fake_openai.c
	@mkdir -p $(BUILD)
	$(CC) -std=c99 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow \
	    -Wno-unused-parameter -o $@ $< $(shell pkg-config --cflags --libs jansson)

$(BUILD)/sse-bench: bench/sse_bench.c
	@mkdir -p $(BUILD)
	$(CC) -std=c99 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow \
	    -Wno-unused-parameter -o $@ $< -lm

# The core must compile without httpd headers (a stray httpd.h fails here).
check-core:
	@mkdir -p $(BUILD)/core
	@for f in $(CORE_SRCS); do \
	    $(CC) -std=c99 -D_GNU_SOURCE $(WARN) -Iinclude $(APR_CFLAGS) $(PKG_CFLAGS) \
	        -c $$f -o $(BUILD)/core/$$(basename $$f .c).o || exit 1; \
	done
	@echo "check-core: $(words $(CORE_SRCS)) core files build without httpd headers"

$(BUILD)/unit/%: t/unit/%.c t/unit/tap.h $(CORE_SRCS) $(HEADERS)
	@mkdir -p $(BUILD)/unit
	$(CC) -std=c99 -D_GNU_SOURCE -g -O1 $(SAN) $(WARN) -Iinclude -It/unit \
	    $(APR_CFLAGS) $(PKG_CFLAGS) -o $@ $< $(CORE_SRCS) $(APR_LIBS) $(PKG_LIBS)

unit: check-core $(UNIT_TESTS)
	ASAN_OPTIONS=detect_leaks=1 prove -e '' $(UNIT_TESTS)

guards:
	@sh t/guards/check_directives.sh
	@sh t/guards/check_lognos.sh

apache-test: all
	perl t/TEST.PL -clean >/dev/null 2>&1 || true
	perl t/TEST.PL -port select

# the one command of README: unit tests, guards, Apache-Test
test:
	sh scripts/test.sh

demo: all
	sh scripts/demo.sh

bench: all
	sh bench/run.sh

install: $(MODULE)
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DESTCONF)
	$(APXS) -S LIBEXECDIR=$(DESTDIR)$(LIBEXECDIR) -i -n sse_assistant $(MODULE)
	install -m 644 conf/sse_assistant.load conf/sse_assistant.conf \
	    $(DESTDIR)$(DESTCONF)/

fuzz:
	sh fuzz/run.sh

clean:
	rm -rf .libs *.la *.lo *.slo *.o modules/.libs modules/*.la modules/*.lo \
	    modules/*.slo modules/*.o $(BUILD) t/logs t/conf/httpd.conf \
	    t/conf/extra.conf t/conf/apache_test_config.pm
