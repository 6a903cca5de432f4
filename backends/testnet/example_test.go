package testnet_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"

	"github.com/tracep/tracep/backends/testnet"
)

// A test runs a client inside the fake internet; New needs root.
func ExampleNew() {
	n, err := testnet.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()

	// The command runs inside however it is started.
	out, err := n.Command("curl", "-sS", "https://example.test/").CombinedOutput()
	fmt.Printf("%s %v\n", out, err)

	client := n.HTTPClient()
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://www.example.test/bytes?n=10")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s, asked %d times\n", body, n.DNS().Count("www.example.test", 0, ""))
}

// The DNS server alone needs no privileges.
func ExampleDNSServer() {
	s, err := testnet.NewDNSServer(testnet.DefaultZone())
	if err != nil {
		log.Fatal(err)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go s.Serve(pc, nil)
	defer s.Close()

	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp4", pc.LocalAddr().String())
	}}
	addrs, err := r.LookupNetIP(context.Background(), "ip4", "www.example.test.")
	fmt.Println(addrs, err)
	fmt.Println(s.Count("www.example.test", 0, "udp"))
	// Output:
	// [192.0.2.10] <nil>
	// 1
}

// A command made by Command runs inside however it is started: Run,
// Output, or a tracer's Start. New needs root.
func ExampleNet_Command() {
	n, err := testnet.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()

	cmd := n.Command("getent", "hosts", "v4.test")
	cmd.Dir = os.TempDir()
	out, err := cmd.Output()
	fmt.Printf("%s %v\n", out, err)
}
