#!/bin/sh
# Every directive is documented in README.md (with its default) and in the
# annotated conf/sse_assistant.conf; every dir-config member is merged.
cd "$(dirname "$0")/../.."
rc=0
for name in $(sed -n 's/^#define SSE_CMD_[A-Z_]* *"\([A-Za-z]*\)".*/\1/p' include/sse_directives.h); do
    if grep -q "^| \`$name" README.md && grep -q "$name" conf/sse_assistant.conf; then
        echo "ok - $name documented"
    else
        echo "FAIL - $name missing from README.md's directive table or conf/sse_assistant.conf"
        rc=1
    fi
done
merge=$(sed -n '/^void \*sse_conf_merge_dir/,/^}/p' modules/sse_conf.c)
for member in $(sed -n '/^typedef struct sse_dir_conf_t/,/^} sse_dir_conf_t/s/^ *[a-z_ ]*[ *]\([a-z_]*\);.*/\1/p' include/sse_conf.h); do
    if echo "$merge" | grep -q "\b$member\b"; then
        echo "ok - $member merged"
    else
        echo "FAIL - sse_dir_conf_t.$member is not merged in sse_conf_merge_dir"
        rc=1
    fi
done
exit $rc
