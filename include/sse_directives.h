/* Directive names, one macro each: the command table, error texts and the
 * guards in t/guards/ all use these. */
#ifndef SSE_DIRECTIVES_H
#define SSE_DIRECTIVES_H

#define SSE_CMD_UPSTREAM        "SSEAssistantUpstream"
#define SSE_CMD_API_KEY_FILE    "SSEAssistantAPIKeyFile"
#define SSE_CMD_API_KEY_ENV     "SSEAssistantAPIKeyEnv"
#define SSE_CMD_MODEL           "SSEAssistantModel"
#define SSE_CMD_SYSTEM_PROMPT   "SSEAssistantSystemPrompt"
#define SSE_CMD_STREAM_USAGE    "SSEAssistantStreamUsage"
#define SSE_CMD_PROXY           "SSEAssistantProxy"
#define SSE_CMD_HEARTBEAT       "SSEAssistantHeartbeat"
#define SSE_CMD_RETRY           "SSEAssistantRetry"
#define SSE_CMD_CONNECT_TIMEOUT "SSEAssistantConnectTimeout"
#define SSE_CMD_IDLE_TIMEOUT    "SSEAssistantIdleTimeout"
#define SSE_CMD_MAX_BODY        "SSEAssistantMaxBody"
#define SSE_CMD_MAX_PROMPT      "SSEAssistantMaxPrompt"
#define SSE_CMD_MAX_LINE        "SSEAssistantMaxLineBytes"
#define SSE_CMD_MAX_STREAMS     "SSEAssistantMaxStreams"
#define SSE_CMD_TOOL            "SSEAssistantTool"
#define SSE_CMD_TOOL_TIMEOUT    "SSEAssistantToolTimeout"
#define SSE_CMD_MAX_TOOL_ROUNDS "SSEAssistantMaxToolRounds"
#define SSE_CMD_TOOL_PHASE      "SSEAssistantToolPhase"
#define SSE_CMD_MEMORY          "SSEAssistantMemory"
#define SSE_CMD_MEMORY_LIMIT    "SSEAssistantMemoryLimit"
#define SSE_CMD_MEMORY_KEY      "SSEAssistantMemoryKey"
#define SSE_CMD_STORE           "SSEAssistantStore"
#define SSE_CMD_ALLOW_ORIGIN    "SSEAssistantAllowOrigin"
#define SSE_CMD_POSTSSE_TTL     "SSEPostSseTTL"
#define SSE_CMD_POSTSSE_TARGET  "SSEPostSseTarget"
#define SSE_CMD_POSTSSE_STREAM  "SSEPostSseStream"
#define SSE_CMD_RESUME          "SSEAssistantResume"
#define SSE_CMD_RESUME_GRACE    "SSEAssistantResumeGrace"
#define SSE_CMD_RESUME_BUFFER   "SSEAssistantResumeBuffer"

#endif
