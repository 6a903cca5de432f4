package dnstrace

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func testKey(name string, id uint16) Key {
	return Key{
		Client:    netip.MustParseAddrPort("192.0.2.10:53000"),
		Server:    netip.MustParseAddrPort("192.0.2.53:53"),
		Transport: "udp",
		ID:        id,
		Name:      name,
		Type:      TypeA,
	}
}

func TestMatcherPairs(t *testing.T) {
	m := NewMatcher[string](0)
	k := testKey("www.example.test", 1)
	_, ev := m.Query(k, 1000, "first")
	require.False(t, ev)
	require.Equal(t, 1, m.Len())

	// Every part of the key counts.
	for _, other := range []func(*Key){
		func(k *Key) { k.Client = netip.MustParseAddrPort("192.0.2.10:53001") },
		func(k *Key) { k.Server = netip.MustParseAddrPort("192.0.2.54:53") },
		func(k *Key) { k.Transport = "tcp" },
		func(k *Key) { k.ID = 2 },
		func(k *Key) { k.Name = "mail.example.test" },
		func(k *Key) { k.Type = TypeAAAA },
	} {
		o := k
		other(&o)
		_, _, ok := m.Response(o, 2000)
		require.False(t, ok, "%+v", o)
	}

	resp := k
	resp.Name = "WWW.Example.TEST" // names compare without regard to case
	p, lat, ok := m.Response(resp, 1500)
	require.True(t, ok)
	require.Equal(t, int64(500), lat)
	require.Equal(t, Pending[string]{Key: k, Time: 1000, Value: "first"}, p)
	require.Zero(t, m.Len())

	_, _, ok = m.Response(resp, 1600)
	require.False(t, ok, "a response is matched once")
}

func TestMatcherDuplicates(t *testing.T) {
	m := NewMatcher[int](0)
	k := testKey("dup.example.test", 7)
	m.Query(k, 100, 1)
	m.Query(k, 150, 2) // the same packet seen again on loopback
	require.Equal(t, 1, m.Len())
	p, lat, ok := m.Response(k, 400)
	require.True(t, ok)
	require.Equal(t, int64(300), lat, "latency counts from the first sighting")
	require.Equal(t, 1, p.Value)
	require.Equal(t, 1, p.Dups)

	// A response before its query (timestamps out of order) has latency 0.
	m.Query(k, 500, 3)
	_, lat, ok = m.Response(k, 450)
	require.True(t, ok)
	require.Zero(t, lat)
}

func TestMatcherNoQuestion(t *testing.T) {
	m := NewMatcher[int](0)
	a, b := testKey("a.test", 9), testKey("b.test", 9)
	c := testKey("c.test", 10)
	m.Query(c, 1, 0)
	m.Query(a, 2, 1)
	m.Query(b, 3, 2)
	resp := a
	resp.Name, resp.Type = "", 0
	_, _, ok := m.Response(resp, 10)
	require.False(t, ok, "never paired by its ID alone")
	require.Equal(t, 3, m.Len())
	_, _, ok = m.Response(a, 10)
	require.True(t, ok)
}

func TestMatcherExpire(t *testing.T) {
	m := NewMatcher[int](0)
	for i := range 5 {
		m.Query(testKey("e.test", uint16(i)), int64(i*100), i)
	}
	out := m.Expire(250, 100, nil)
	require.Len(t, out, 2)
	require.Equal(t, 0, out[0].Value)
	require.Equal(t, 1, out[1].Value)
	require.Equal(t, 3, m.Len())
	_, _, ok := m.Response(testKey("e.test", 3), 300)
	require.True(t, ok)
	out = m.Expire(1000, 100, out[:0])
	require.Len(t, out, 2)
	require.Equal(t, 2, out[0].Value)
	require.Equal(t, 4, out[1].Value)
	require.Zero(t, m.Len())
	require.Empty(t, m.Drain(nil))
}

func TestMatcherBounded(t *testing.T) {
	m := NewMatcher[int](3)
	for i := range 3 {
		_, ev := m.Query(testKey("b.test", uint16(i)), int64(i), i)
		require.False(t, ev)
	}
	old, ev := m.Query(testKey("b.test", 3), 3, 3)
	require.True(t, ev)
	require.Equal(t, 0, old.Value, "the oldest is evicted")
	old, ev = m.Query(testKey("b.test", 4), 4, 4)
	require.True(t, ev)
	require.Equal(t, 1, old.Value)
	require.Equal(t, 3, m.Len())
	require.Equal(t, uint64(2), m.Evicted())

	// Slots are reused: the table never grows beyond its size.
	for i := range 1000 {
		m.Query(testKey("b.test", uint16(100+i)), int64(100+i), i)
		if i%3 == 1 {
			m.Response(testKey("b.test", uint16(100+i)), int64(101+i))
		}
	}
	require.Equal(t, 3, m.Len())
	require.LessOrEqual(t, len(m.nodes), 3)
	all := m.Drain(nil)
	require.Len(t, all, 3)
	require.Less(t, all[0].Time, all[1].Time)
	require.Less(t, all[1].Time, all[2].Time)
	require.Zero(t, m.Len())
}
