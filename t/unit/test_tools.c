/* Tool-call delta assembly across the servers' different habits. */
#include <apr_general.h>
#include <apr_strings.h>

#include "sse_tools.h"
#include "sse_upstream.h"
#include "tap.h"

static int no_token(void *ctx, const char *t, apr_size_t n)
{
    return 0;
}

int main(void)
{
    apr_pool_t *p;
    sse_tool_calls_t tc;
    sse_upstream_parser_t *up;
    const char *stream;
    apr_size_t i, n;

    apr_initialize();
    apr_pool_create(&p, NULL);

    /* OpenAI: id/name on the first fragment, arguments in pieces */
    sse_tool_calls_init(&tc, p, 4096);
    sse_tool_calls_add(&tc, 0, "call_a", "get_weather", "", 0);
    sse_tool_calls_add(&tc, 0, NULL, NULL, "{\"ci", 4);
    sse_tool_calls_add(&tc, 0, NULL, NULL, "ty\":\"Berlin\"}", 13);
    is_int(sse_tool_calls_finish(&tc), 1, "one call");
    is_str(tc.calls[0].id, "call_a", "id from the first fragment");
    is_str(tc.calls[0].name, "get_weather", "name from the first fragment");
    is_str(tc.calls[0].args, "{\"city\":\"Berlin\"}", "arguments joined");

    /* two parallel calls, interleaved */
    sse_tool_calls_init(&tc, p, 4096);
    sse_tool_calls_add(&tc, 0, "c0", "a", "", 0);
    sse_tool_calls_add(&tc, 1, "c1", "b", "", 0);
    sse_tool_calls_add(&tc, 0, NULL, NULL, "{\"x\":", 5);
    sse_tool_calls_add(&tc, 1, NULL, NULL, "{\"y\":", 5);
    sse_tool_calls_add(&tc, 1, NULL, NULL, "2}", 2);
    sse_tool_calls_add(&tc, 0, NULL, NULL, "1}", 2);
    is_int(sse_tool_calls_finish(&tc), 2, "two interleaved calls");
    is_str(tc.calls[0].args, "{\"x\":1}", "call 0 arguments");
    is_str(tc.calls[1].args, "{\"y\":2}", "call 1 arguments");

    /* missing index: by id, then the latest slot; never merged into 0 */
    sse_tool_calls_init(&tc, p, 4096);
    sse_tool_calls_add(&tc, -1, "c0", "a", "{\"x\":1}", 7);
    sse_tool_calls_add(&tc, -1, "c1", "b", "{\"y\"", 4);
    sse_tool_calls_add(&tc, -1, NULL, NULL, ":2}", 3);
    is_int(sse_tool_calls_finish(&tc), 2, "no index: two calls kept apart");
    is_str(tc.calls[1].args, "{\"y\":2}", "no index: continuation goes to "
           "the latest call");

    /* LiteLLM: repeated id and a trailing summary of the arguments */
    sse_tool_calls_init(&tc, p, 4096);
    sse_tool_calls_add(&tc, 0, "c0", "a", "{\"x\":", 5);
    sse_tool_calls_add(&tc, 0, "c0", "a", "1}", 2);
    sse_tool_calls_add(&tc, 0, "c0", "a", "{\"x\":1}", 7);
    sse_tool_calls_finish(&tc);
    is_str(tc.calls[0].args, "{\"x\":1}", "summary chunk not appended twice");

    /* index starting at 1, empty arguments, missing id and name */
    sse_tool_calls_init(&tc, p, 4096);
    sse_tool_calls_add(&tc, 1, NULL, "a", "", 0);
    sse_tool_calls_add(&tc, 2, "c2", NULL, "{}", 2);
    is_int(sse_tool_calls_finish(&tc), 1, "a call without a name is dropped");
    is_str(tc.calls[0].args, "{}", "empty arguments become {}");
    ok(tc.calls[0].id[0] != '\0', "a missing id is filled in");

    /* limits */
    sse_tool_calls_init(&tc, p, 8);
    ok(sse_tool_calls_add(&tc, 0, "c", "a", "0123456789", 10) == -1,
       "arguments over the cap refused");
    sse_tool_calls_init(&tc, p, 4096);
    for (i = 0; i < SSE_TOOL_MAX_CALLS; ++i) {
        sse_tool_calls_add(&tc, (long)i, "c", "a", "{}", 2);
    }
    ok(sse_tool_calls_add(&tc, 99, "c", "a", "{}", 2) == -1,
       "more calls than SSE_TOOL_MAX_CALLS refused");

    /* through the upstream parser, byte by byte */
    stream =
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null,"
        "\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,"
        "\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,"
        "\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]},"
        "\"finish_reason\":\"tool_calls\"}]}\n\n"
        "data: [DONE]\n\n";
    sse_tool_calls_init(&tc, p, 4096);
    up = sse_upstream_parser_create(p, 65536, no_token, NULL);
    sse_upstream_set_tool_calls(up, &tc);
    n = strlen(stream);
    for (i = 0; i < n; ++i) {
        sse_upstream_feed(up, stream + i, 1);
    }
    ok(sse_upstream_finish(up) == SSE_UPSTREAM_DONE, "parser done");
    is_int(sse_tool_calls_finish(&tc), 1, "parser collected one call");
    is_str(tc.calls[0].args, "{\"city\":\"Paris\"}",
           "arguments from the finish chunk too (vLLM)");
    is_str(sse_upstream_finish_reason(up), "tool_calls", "finish_reason");

    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
