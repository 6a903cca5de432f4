// Package web serves a trace to a browser: the live dashboard of
// `tracep run -web` (and of every tracing command's -web) and the page of
// `tracep view` for a saved trace.
//
// The page and its script and style are embedded in the binary; it makes no
// request but to the server it came from, and the server serves nothing but
// that page and the trace. A [Server] is fed one event at a time with
// [Server.Publish] and streams them to every open page over Server-Sent
// Events, together with the process tree, the policy verdict
// ([Server.SetVerdict]) and how the trace ended ([Server.Done]).
//
// # Same words as the CLI
//
// Each event goes to the page as the JSON the CLI writes with -j, plus its
// core text: ev.Text() and ev.Proc.String(). Process chains, DNS answers of
// connections and connections of TLS events are computed here by the
// harness's own queries (harness.Capture.Processes, AnswerFor,
// ConnectionFor), and lost events are read from the trace's "lost" notes
// (KindTrace events) with the core's wording. The page renders what it is
// given; it never words an event itself.
//
// # Safety
//
// By default the server listens on 127.0.0.1 on a free port; an address
// without a host ("-web :8080") is on 127.0.0.1 too, and only an explicit
// host ("0.0.0.0:8080") listens elsewhere. Every request must carry the
// unguessable token that [Server.URL] contains (as the first path element),
// name the server itself in its Host header (a defence against DNS
// rebinding), and come from the page's own origin: a request with another
// Origin, or that a browser marks as cross-site or same-site
// (Sec-Fetch-Site), is refused, as is any method but GET and HEAD. The page
// runs under a Content-Security-Policy that allows nothing but the server.
//
// # Memory
//
// The server keeps the events it is given in up to [Config.MaxHistory]
// bytes; beyond, the oldest are dropped and the page says how many,
// prominently: a dropped event is never silently missing. Publish encodes
// the event for the page on the caller's goroutine (BenchmarkPublish); it
// never waits for a page.
package web
