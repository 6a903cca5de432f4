package dnstrace

import "testing"

func BenchmarkParse(b *testing.B) {
	for _, bm := range []struct {
		name string
		msg  []byte
	}{
		{"A", typicalA()},
		{"AAAA", typicalAAAA()},
		{"CNAME_chain", cnameChain()},
	} {
		b.Run(bm.name+"/Parse", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bm.msg)))
			for b.Loop() {
				if _, err := Parse(bm.msg); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bm.name+"/Parser", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bm.msg)))
			var p Parser
			for b.Loop() {
				if _, err := p.Parse(bm.msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
