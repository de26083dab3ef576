package main

// The holding schedule, without sockets or clocks of its own: when each queued packet is released.
//
// A packet is held latency ± uniform jitter (never less than zero), and never released before an
// earlier packet of the same flow: its release time is the later of its own draw and the release time
// of the flow's previous packet. So jitter widens the spread of delays without reordering a TCP
// stream (reordering would make the receiver send duplicate ACKs and the sender retransmit, a second
// fault nobody asked for); packets of different flows may pass each other. netem reorders with jitter
// unless it is given a rate; keeping per-flow order is the less surprising choice for a latency fault.
// Its cost: in a dense flow (packets closer together than the jitter's width) a packet leaves no
// earlier than the latest draw before it, so the delays bunch towards latency + jitter; sparse
// exchanges (a connect, a request and its answer) see the whole spread.
//
// Beyond maxHeld packets held at once a packet is released at once (Admit says so): a flood is
// passed undelayed rather than dropped, and the delayer's memory stays bounded.

import (
	"container/heap"
	"encoding/binary"
	"time"
)

// flowKey names a packet's flow from its first bytes: protocol, addresses and (for TCP, UDP, SCTP,
// UDP-Lite and not a fragment) ports. Packets it cannot read share one key per protocol.
type flowKey [40]byte

func flowOf(pkt []byte) flowKey {
	var k flowKey
	if len(pkt) < 1 {
		return k
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 {
			return k
		}
		ihl := int(pkt[0]&0x0f) * 4
		proto := pkt[9]
		k[0], k[1] = 4, proto
		copy(k[2:10], pkt[12:20])
		fragment := binary.BigEndian.Uint16(pkt[6:8])&0x3fff != 0
		if hasPorts(proto) && !fragment && ihl >= 20 && len(pkt) >= ihl+4 {
			copy(k[34:38], pkt[ihl:ihl+4])
		}
	case 6:
		if len(pkt) < 40 {
			return k
		}
		proto := pkt[6]
		k[0], k[1] = 6, proto
		copy(k[2:34], pkt[8:40])
		if hasPorts(proto) && len(pkt) >= 44 {
			copy(k[34:38], pkt[40:44])
		}
	}
	return k
}

func hasPorts(proto byte) bool { return proto == 6 || proto == 17 || proto == 132 || proto == 136 }

type held struct {
	id      uint32
	release time.Time
	seq     uint64
	flow    flowKey
}

type byRelease []held

func (h byRelease) Len() int { return len(h) }
func (h byRelease) Less(i, j int) bool {
	if !h[i].release.Equal(h[j].release) {
		return h[i].release.Before(h[j].release)
	}
	return h[i].seq < h[j].seq
}
func (h byRelease) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *byRelease) Push(x any)   { *h = append(*h, x.(held)) }
func (h *byRelease) Pop() any     { old := *h; x := old[len(old)-1]; *h = old[:len(old)-1]; return x }

type flowState struct {
	last time.Time
	held int
}

// Schedule holds packets until their release time. Not safe for concurrent use: the caller locks.
type Schedule struct {
	latency, jitter time.Duration
	maxHeld         int
	// rand returns a uniform number in [0, 1).
	rand  func() float64
	heap  byRelease
	flows map[flowKey]*flowState
	seq   uint64
}

func NewSchedule(latency, jitter time.Duration, maxHeld int, rand func() float64) *Schedule {
	return &Schedule{latency: latency, jitter: jitter, maxHeld: maxHeld, rand: rand, flows: map[flowKey]*flowState{}}
}

// Admit takes packet id, which arrived at now with the given first bytes. It returns false when the
// packet is to be released at once (the bound is reached); otherwise the packet is held.
func (s *Schedule) Admit(id uint32, pkt []byte, now time.Time) bool {
	if len(s.heap) >= s.maxHeld {
		return false
	}
	d := s.latency
	if s.jitter > 0 {
		d += time.Duration((2*s.rand() - 1) * float64(s.jitter))
	}
	if d < 0 {
		d = 0
	}
	release := now.Add(d)
	flow := flowOf(pkt)
	f := s.flows[flow]
	if f == nil {
		f = &flowState{}
		s.flows[flow] = f
	}
	if release.Before(f.last) {
		release = f.last
	}
	f.last = release
	f.held++
	s.seq++
	heap.Push(&s.heap, held{id: id, release: release, seq: s.seq, flow: flow})
	return true
}

// Due removes and returns, in release order, the ids whose time has come by now, and the time the
// next one falls due (zero when nothing is held).
func (s *Schedule) Due(now time.Time) (ids []uint32, next time.Time) {
	for len(s.heap) > 0 && !s.heap[0].release.After(now) {
		ids = append(ids, s.take().id)
	}
	if len(s.heap) > 0 {
		next = s.heap[0].release
	}
	return ids, next
}

// All removes and returns every id still held, in release order.
func (s *Schedule) All() []uint32 {
	ids := make([]uint32, 0, len(s.heap))
	for len(s.heap) > 0 {
		ids = append(ids, s.take().id)
	}
	return ids
}

// Held is how many packets are held now.
func (s *Schedule) Held() int { return len(s.heap) }

func (s *Schedule) take() held {
	h := heap.Pop(&s.heap).(held)
	if f := s.flows[h.flow]; f != nil {
		if f.held--; f.held <= 0 {
			delete(s.flows, h.flow)
		}
	}
	return h
}
