package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// ipv4 is the first bytes of an IPv4 packet: protocol, addresses, ports.
func ipv4(proto byte, src, dst [4]byte, sport, dport uint16, fragOffset uint16) []byte {
	b := make([]byte, 24)
	b[0] = 0x45
	b[6], b[7] = byte(fragOffset>>8), byte(fragOffset)
	b[9] = proto
	copy(b[12:16], src[:])
	copy(b[16:20], dst[:])
	b[20], b[21] = byte(sport>>8), byte(sport)
	b[22], b[23] = byte(dport>>8), byte(dport)
	return b
}

var (
	a = [4]byte{198, 18, 252, 1}
	b = [4]byte{198, 18, 252, 2}
)

func TestConstantLatencyReleasesInArrivalOrder(t *testing.T) {
	s := NewSchedule(100*time.Millisecond, 0, 10, rand.Float64)
	t0 := time.Unix(1000, 0)
	for i := uint32(1); i <= 3; i++ {
		if !s.Admit(i, ipv4(6, a, b, 40000, 80, 0), t0.Add(time.Duration(i)*time.Millisecond)) {
			t.Fatalf("packet %d not held", i)
		}
	}
	if ids, next := s.Due(t0.Add(100 * time.Millisecond)); len(ids) != 0 || !next.Equal(t0.Add(101*time.Millisecond)) {
		t.Fatalf("due early: %v, next %v", ids, next)
	}
	ids, next := s.Due(t0.Add(103 * time.Millisecond))
	if !slices.Equal(ids, []uint32{1, 2, 3}) || !next.IsZero() || s.Held() != 0 {
		t.Fatalf("got %v next %v held %d", ids, next, s.Held())
	}
	if len(s.flows) != 0 {
		t.Fatalf("flow state left behind: %d", len(s.flows))
	}
}

// release runs a schedule to its end, one millisecond at a time: the ids in release order and each
// one's delay, for packets that arrived at t0 + id * gap.
func release(s *Schedule, t0 time.Time, gap time.Duration, until time.Duration) (ids []uint32, delays []time.Duration) {
	for at := time.Duration(0); at <= until; at += time.Millisecond {
		now := t0.Add(at)
		due, _ := s.Due(now)
		for _, id := range due {
			delays = append(delays, now.Sub(t0.Add(time.Duration(id)*gap)))
		}
		ids = append(ids, due...)
	}
	return ids, delays
}

func TestJitterSpreadsWithinBoundsAndKeepsFlowOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	t0 := time.Unix(1000, 0)
	// Packets of one flow 50 ms apart: far enough apart for each to get its own draw.
	s := NewSchedule(100*time.Millisecond, 20*time.Millisecond, 100000, r.Float64)
	const n = 400
	for i := uint32(1); i <= n; i++ {
		s.Admit(i, ipv4(6, a, b, 40000, 80, 0), t0.Add(time.Duration(i)*50*time.Millisecond))
	}
	ids, delays := release(s, t0, 50*time.Millisecond, (n+5)*50*time.Millisecond)
	lo, hi := slices.Min(delays), slices.Max(delays)
	if len(ids) != n || !slices.IsSorted(ids) || lo < 80*time.Millisecond || hi > 121*time.Millisecond || hi-lo < 30*time.Millisecond {
		t.Fatalf("%d of %d released (sorted: %v), delays %v to %v: want the spread of 80..120 ms", len(ids), n, slices.IsSorted(ids), lo, hi)
	}
	// A packet every millisecond: a later draw never overtakes an earlier packet of its flow, so the
	// delays bunch above the latency instead (what keeping order costs a dense flow).
	s = NewSchedule(100*time.Millisecond, 20*time.Millisecond, 100000, r.Float64)
	for i := uint32(1); i <= n; i++ {
		s.Admit(i, ipv4(6, a, b, 40000, 80, 0), t0.Add(time.Duration(i)*time.Millisecond))
	}
	ids, delays = release(s, t0, time.Millisecond, (n+200)*time.Millisecond)
	if len(ids) != n || !slices.IsSorted(ids) || slices.Min(delays) < 80*time.Millisecond || slices.Max(delays) > 121*time.Millisecond {
		t.Fatalf("dense flow: %d of %d released (sorted: %v), delays %v to %v", len(ids), n, slices.IsSorted(ids), slices.Min(delays), slices.Max(delays))
	}
}

func TestFlowsPassEachOther(t *testing.T) {
	// The first flow's packet draws +jitter, the second flow's -jitter: the second leaves first.
	draws := []float64{1, 0}
	s := NewSchedule(100*time.Millisecond, 10*time.Millisecond, 10, func() float64 { d := draws[0]; draws = draws[1:]; return d })
	t0 := time.Unix(1000, 0)
	s.Admit(1, ipv4(6, a, b, 40000, 80, 0), t0)
	s.Admit(2, ipv4(6, a, b, 40001, 80, 0), t0)
	ids, _ := s.Due(t0.Add(95 * time.Millisecond))
	if !slices.Equal(ids, []uint32{2}) {
		t.Fatalf("got %v, want the other flow's packet first", ids)
	}
}

func TestBeyondTheBoundPacketsPassAtOnce(t *testing.T) {
	s := NewSchedule(time.Second, 0, 2, rand.Float64)
	t0 := time.Unix(1000, 0)
	got := []bool{s.Admit(1, nil, t0), s.Admit(2, nil, t0), s.Admit(3, nil, t0)}
	if !slices.Equal(got, []bool{true, true, false}) || s.Held() != 2 {
		t.Fatalf("admitted %v, held %d", got, s.Held())
	}
	if all := s.All(); !slices.Equal(all, []uint32{1, 2}) || s.Held() != 0 {
		t.Fatalf("All gave %v", all)
	}
}

func TestFlowOf(t *testing.T) {
	if flowOf(ipv4(6, a, b, 1, 80, 0)) == flowOf(ipv4(6, a, b, 2, 80, 0)) {
		t.Fatal("two TCP source ports are one flow")
	}
	if flowOf(ipv4(6, a, b, 1, 80, 0)) == flowOf(ipv4(17, a, b, 1, 80, 0)) {
		t.Fatal("TCP and UDP are one flow")
	}
	// A fragment carries no ports past the first: fragments of a datagram share one key.
	if flowOf(ipv4(17, a, b, 1, 80, 0x0010)) != flowOf(ipv4(17, a, b, 9, 9, 0x0020)) {
		t.Fatal("fragments do not share a flow")
	}
	if flowOf(ipv4(1, a, b, 1, 2, 0)) != flowOf(ipv4(1, a, b, 3, 4, 0)) {
		t.Fatal("ICMP has no ports")
	}
	if flowOf([]byte{0x45}) != (flowKey{}) || flowOf(nil) != (flowKey{}) {
		t.Fatal("a short packet is not the zero key")
	}
}

func TestNfqueueInfoIsXtNFQInfoV3(t *testing.T) {
	info := []byte(*nfqueueInfo(4242))
	if len(info) != 8 || info[0] != 0x92 || info[1] != 0x10 || info[2] != 1 || info[4] != nfqFlagBypass {
		t.Fatalf("info %x", info)
	}
}

func TestParsePacket(t *testing.T) {
	hdr := make([]byte, 7)
	hdr[0], hdr[1], hdr[2], hdr[3] = 0, 0, 1, 2
	msg := append(append([]byte{0, 0, 0x10, 0x92}, attr(nfqaPacketHdr, hdr)...), attr(nfqaPayload, []byte{0x45, 1, 2})...)
	p, ok := parsePacket(msg)
	if !ok || p.id != 258 || !slices.Equal(p.payload, []byte{0x45, 1, 2}) {
		t.Fatalf("got %+v %v", p, ok)
	}
	if _, ok := parsePacket(msg[:4]); ok {
		t.Fatal("a message without a packet header parsed")
	}
}
