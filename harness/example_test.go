package harness_test

import (
	"context"
	"fmt"
	"log"
	"os/exec"
	"strings"

	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
)

// savedTrace is a trace as tracep -j or harness.SaveOnFailure write it (JSON
// lines), shortened: sh runs curl, which looks example.test up and connects
// to it, and then a hard-coded address.
const savedTrace = `{"schema":1,"kind":"exec","ktime_ns":1,"proc":{"pid":100,"ppid":1,"uid":0,"comm":"sh"},"exec":{"op":"exec","filename":"/bin/sh","argv":["sh","-c","curl https://example.test/"]}}
{"schema":1,"kind":"exec","ktime_ns":2,"proc":{"pid":101,"ppid":100,"uid":0,"comm":"curl"},"exec":{"op":"exec","filename":"/usr/bin/curl","argv":["curl","https://example.test/"]}}
{"schema":1,"kind":"dns","ktime_ns":3,"proc":{"pid":101,"ppid":100,"uid":0,"comm":"curl"},"dns":{"id":7,"name":"example.test","type":"A","transport":"udp","client":"127.0.0.1:40000","server":"127.0.0.1:53","rcode":"NOERROR","answers":[{"name":"example.test","type":"A","ttl":60,"data":"192.0.2.10"}],"answered":true}}
{"schema":1,"kind":"net","ktime_ns":4,"proc":{"pid":101,"ppid":100,"uid":0,"comm":"curl"},"net":{"op":"connect","proto":"tcp","dir":"out","src":"192.0.2.10:41000","dst":"192.0.2.10:443"}}
{"schema":1,"kind":"net","ktime_ns":5,"proc":{"pid":101,"ppid":100,"uid":0,"comm":"curl"},"net":{"op":"connect","proto":"tcp","dir":"out","src":"192.0.2.10:41002","dst":"198.51.100.7:443"}}
{"schema":1,"kind":"exec","ktime_ns":6,"proc":{"pid":101,"ppid":100,"uid":0,"comm":"curl"},"exec":{"op":"exit"}}
{"schema":1,"kind":"exec","ktime_ns":7,"proc":{"pid":100,"ppid":1,"uid":0,"comm":"sh"},"exec":{"op":"exit"}}
`

// readCapture makes a Capture of a saved trace, as Run would return it.
func readCapture(jsonl string) *harness.Capture {
	evs, err := tracep.ReadAll(strings.NewReader(jsonl))
	if err != nil {
		log.Fatal(err)
	}
	harness.SortEvents(evs)
	return &harness.Capture{Events: evs}
}

// Run traces a command without a testing.TB, as the CLI and scripts do;
// tests use Trace. It needs root.
func ExampleRun() {
	cmd := exec.Command("sh", "-c", "uname -s; getent hosts localhost")
	c, err := harness.Run(context.Background(), cmd, harness.Kinds(tracep.KindExec, tracep.KindDNS))
	if err != nil {
		log.Fatal(err) // wraps os.ErrPermission without root
	}
	fmt.Println("exit status", c.ExitCode)
	fmt.Println(c.Programs())
	for _, ev := range c.Lookups("localhost") {
		fmt.Println(ev.DNS.Type, ev.DNS.RCode)
	}
}

// InNet runs the command inside a hermetic network: DNS, HTTP and HTTPS
// for example.test and other names, and nothing else reachable. Both need
// root.
func ExampleInNet() {
	n, err := testnet.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()

	cmd := n.Command("curl", "-sS", "https://example.test/")
	c, err := harness.Run(context.Background(), cmd, harness.InNet(n))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Names(), c.SNIs(), c.Addrs("example.test"))
}

// The queries of a Capture answer what a program did.
func ExampleCapture_Programs() {
	c := readCapture(savedTrace)
	fmt.Println(c.Programs())
	fmt.Println(c.Names())
	fmt.Println(c.Addrs("example.test"))
	for _, conn := range c.Connections() {
		answer, fromDNS := c.AnswerFor(conn)
		fmt.Println(conn.Net.Dst, fromDNS, answer.Seq)
	}
	// Output:
	// [/bin/sh /usr/bin/curl]
	// [example.test]
	// [192.0.2.10]
	// 192.0.2.10:443 true 3
	// 198.51.100.7:443 false 0
}

// A matcher is a kind and key=glob terms, the same in Find, scripts'
// expect and policies.
func ExampleCapture_Find() {
	c := readCapture(savedTrace)
	for _, ev := range c.Find(harness.MustMatcher("net dst=*:443 comm=curl")) {
		fmt.Println(ev.Net.Dst)
	}
	for _, ev := range c.Find(harness.MustMatcher("exec prog=curl args='*example.test*'")) {
		fmt.Println(ev.Proc.Comm, ev.Exec.Argv)
	}
	// Output:
	// 192.0.2.10:443
	// 198.51.100.7:443
	// curl [curl https://example.test/]
}

// A policy allows and denies by matcher, first match wins, and requires
// relations between events: here that connections go where DNS said.
func ExampleParsePolicy() {
	p, err := harness.ParsePolicy(strings.NewReader(`
allow exec prog=sh
allow exec prog=curl
allow dns name=*.test
allow net dst=*:443
require connect-from-dns
`))
	if err != nil {
		log.Fatal(err)
	}
	v := p.Judge(readCapture(savedTrace).Events)
	fmt.Println("clean:", v.Clean())
	for _, bad := range v.Violations {
		fmt.Println(bad.Event.Net.Dst, "-", bad.Reason)
	}
	// Output:
	// clean: false
	// 198.51.100.7:443 - connect-from-dns: no DNS answer in this trace gave 198.51.100.7 (a hard-coded address, or a lookup the trace did not see)
}

// Normalize is the golden form of a trace: processes named p1, p2 in tree
// order, no pids, ports, times or ids, so two runs compare equal.
// Capture.RequireGolden compares it with a file.
func ExampleNormalize() {
	fmt.Print(harness.Normalize(readCapture(savedTrace).Events))
	// Output:
	// p1 exec /bin/sh: sh -c 'curl https://example.test/'
	// p1 exit status 0
	// p2 exec /usr/bin/curl: curl https://example.test/
	// p2 dns A example.test → NOERROR [A 192.0.2.10]
	// p2 connect tcp → 192.0.2.10:443
	// p2 connect tcp → 198.51.100.7:443
	// p2 exit status 0
}
