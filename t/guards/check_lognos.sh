#!/bin/sh
# SSE_LOGNO tags: unique, and below the next free number.
cd "$(dirname "$0")/../.."
next=$(cat include/sse_lognos.next)
tags=$(grep -ho 'SSE_LOGNO([0-9]*)' mod_sse_assistant.c modules/*.c | tr -dc '0-9\n')
dups=$(echo "$tags" | sort | uniq -d)
rc=0
if [ -n "$dups" ]; then
    echo "FAIL - SSE_LOGNO used twice: $dups"; rc=1
else
    echo "ok - $(echo "$tags" | wc -l) log tags are unique"
fi
for t in $tags; do
    if [ "$t" -ge "$next" ]; then
        echo "FAIL - SSE_LOGNO($t) is not below include/sse_lognos.next ($next)"; rc=1
    fi
done
[ $rc -eq 0 ] && echo "ok - every tag is below $next"
exit $rc
