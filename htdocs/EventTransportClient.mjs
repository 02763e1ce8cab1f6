// ES module entry of EventTransportClient: `import EventTransportClient from
// './EventTransportClient.mjs'` (or `import { EventTransportClient } ...`).
// It loads the one implementation, EventTransportClient.js (same directory,
// no other dependency), which registers itself on globalThis.
import './EventTransportClient.js';

const EventTransportClient = globalThis.EventTransportClient;
export { EventTransportClient };
export default EventTransportClient;
