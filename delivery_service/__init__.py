"""stirmls delivery service: orders, stores and fans out MLS traffic for STIR-identified
clients (issue 4; protocol in docs/protocol.md).

Sans-I/O cores (no sockets, no trio waits):
    session      ServerSession: handshake states and what each state allows
    service      DeliveryCore: request checks, storage writes, outcomes to push
    sequencer    CommitSequencer: per-group public state (openmls.PublicGroup), commits
    credentials  StirIdentifier: STIR validation -> the one TN a credential proves
    outbox       Outbox: a connection's replies and mail, reloaded from storage when behind
    limits       Limits, TokenBucket
    mls_framing  PrivateMessage header parsing (routing without group state)
    provider     PassportIssuer: the carrier's STIR authentication service role
Storage:
    storage          Storage interface and records
    sqlite_storage   SQLiteStorage (WAL); ":memory:" for throwaway runs
I/O:
    batching     WriteBatcher: group commit of writes, pushes after the commit
    transport    FrameTransport: WebSocketTransport (accept_websocket, on shared.websocket),
                 MemoryTransport
    server       DeliveryServer: serve_websocket(host, port), connect_in_memory()
    loop_monitor LoopMonitor: where the event loop's time goes (serve --loop-stats)
    latency_trace LatencyTrace: stage times of each stored message (serve --latency-trace)
    cli          `stirmls ds serve`
"""
