package main

// A minimal NFQUEUE client (nfnetlink_queue) over a raw netlink socket, written against the kernel's
// uapi (linux/netfilter/nfnetlink_queue.h): bind one queue, copy each packet's first bytes, read
// packets, send verdicts. By hand, with golang.org/x/sys/unix only, because the Go module proxy this
// project builds from does not serve github.com/florianl/go-nfqueue (either major version), and the
// protocol needed here is four messages. Reading with recvfrom (not a netlink library's Receive,
// which drops a whole batch of messages when one of them is an error) means one refused verdict
// never costs the packets that arrived with it.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	nfqnlMsgPacket  = 0
	nfqnlMsgVerdict = 1
	nfqnlMsgConfig  = 2

	nfqaPacketHdr  = 1
	nfqaVerdictHdr = 2
	nfqaPayload    = 10

	nfqaCfgCmd      = 1
	nfqaCfgParams   = 2
	nfqaCfgQueueMax = 3
	nfqaCfgMask     = 4
	nfqaCfgFlags    = 5

	nfqnlCfgCmdBind = 1
	nfqnlCopyPacket = 2

	// Packets beyond the queue's length, or that cannot be delivered to this socket, are accepted by
	// the kernel instead of dropped.
	nfqaCfgFFailOpen = 1 << 0
	// GSO packets are queued whole, not segmented first: the delayer never changes a packet.
	nfqaCfgFGSO = 1 << 2

	nfAccept = 1
)

type queue struct {
	fd  int
	num uint16
	seq uint32
	buf []byte
	// Packets read while waiting for an acknowledgement (the rule may be in place before the queue is
	// bound: a restarted delayer), handed out by the next read.
	pending []packet
}

// openQueue binds queue num in this network namespace, copying copyRange bytes of each packet, with
// at most maxLen packets queued in the kernel (beyond that: fail open). A queue bound by another
// socket (a delayer on its way out) is retried until bindFor has passed.
func openQueue(num uint16, copyRange uint32, maxLen uint32, bindFor time.Duration) (*queue, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	q := &queue{fd: fd, num: num, buf: make([]byte, 1<<18)}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		q.close()
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	// A full receive buffer is not an error to report: the kernel fails open for what it cannot deliver.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_NO_ENOBUFS, 1)
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}
	// One message binds and configures: the kernel applies the command first, then the parameters.
	params := make([]byte, 5)
	binary.BigEndian.PutUint32(params, copyRange)
	params[4] = nfqnlCopyPacket
	flags := be32(nfqaCfgFFailOpen | nfqaCfgFGSO)
	cfg := append(append(append(append(attr(nfqaCfgCmd, []byte{nfqnlCfgCmdBind, 0, 0, 0}), attr(nfqaCfgParams, params)...),
		attr(nfqaCfgQueueMax, be32(maxLen))...), attr(nfqaCfgMask, flags)...), attr(nfqaCfgFlags, flags)...)
	deadline := time.Now().Add(bindFor)
	for {
		err = q.config(cfg)
		if err == nil || !(errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		q.close()
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("bind queue %d: %w (another process holds it, or CAP_NET_ADMIN is missing)", num, err)
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil, fmt.Errorf("bind queue %d: %w (this kernel lacks nfnetlink_queue, CONFIG_NETFILTER_NETLINK_QUEUE)", num, err)
		}
		return nil, fmt.Errorf("bind queue %d: %w", num, err)
	}
	return q, nil
}

func (q *queue) close() { _ = unix.Close(q.fd) }

// setReadTimeout bounds each read, so a reader can look up from a quiet queue.
func (q *queue) setReadTimeout(d time.Duration) {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	_ = unix.SetsockoptTimeval(q.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

func be32(v uint32) []byte { b := make([]byte, 4); binary.BigEndian.PutUint32(b, v); return b }

// attr is one netlink attribute, padded to four bytes.
func attr(typ uint16, data []byte) []byte {
	l := 4 + len(data)
	b := make([]byte, (l+3)&^3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(l))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	copy(b[4:], data)
	return b
}

// message is one nfnetlink_queue message for this queue: nlmsghdr, nfgenmsg, attributes.
func (q *queue) message(typ uint16, flags uint16, attrs []byte) []byte {
	q.seq++
	l := unix.NLMSG_HDRLEN + 4 + len(attrs)
	b := make([]byte, l)
	binary.NativeEndian.PutUint32(b[0:4], uint32(l))
	binary.NativeEndian.PutUint16(b[4:6], unix.NFNL_SUBSYS_QUEUE<<8|typ)
	binary.NativeEndian.PutUint16(b[6:8], unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(b[8:12], q.seq)
	// nfgenmsg: family AF_UNSPEC, version 0, the queue number (big endian).
	binary.BigEndian.PutUint16(b[unix.NLMSG_HDRLEN+2:], q.num)
	copy(b[unix.NLMSG_HDRLEN+4:], attrs)
	return b
}

func (q *queue) send(b []byte) error {
	for {
		err := unix.Sendto(q.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		if err != unix.EINTR {
			return err
		}
	}
}

// config sends one config message and waits for its acknowledgement; packets that arrive meanwhile
// are kept for the next read (each needs its verdict).
func (q *queue) config(attrs []byte) error {
	msg := q.message(nfqnlMsgConfig, unix.NLM_F_ACK, attrs)
	if err := q.send(msg); err != nil {
		return err
	}
	seq := q.seq
	for {
		n, _, err := unix.Recvfrom(q.fd, q.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(q.buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Type == unix.NFNL_SUBSYS_QUEUE<<8|nfqnlMsgPacket {
				if p, ok := parsePacket(m.Data); ok {
					p.payload = append([]byte(nil), p.payload...)
					q.pending = append(q.pending, p)
				}
				continue
			}
			if m.Header.Type == unix.NLMSG_ERROR && m.Header.Seq == seq && len(m.Data) >= 4 {
				if code := int32(binary.NativeEndian.Uint32(m.Data[0:4])); code != 0 {
					return syscall.Errno(-code)
				}
				return nil
			}
		}
	}
}

// packet is one queued packet: its id and the first bytes of it.
type packet struct {
	id      uint32
	payload []byte
}

// read returns the packets of one read (none when the read timed out). The payloads alias the
// queue's buffer: they are valid until the next read.
func (q *queue) read() ([]packet, error) {
	if len(q.pending) > 0 {
		pkts := q.pending
		q.pending = nil
		return pkts, nil
	}
	n, _, err := unix.Recvfrom(q.fd, q.buf, 0)
	if err == unix.EAGAIN || err == unix.EWOULDBLOCK || err == unix.EINTR {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	msgs, err := syscall.ParseNetlinkMessage(q.buf[:n])
	if err != nil {
		return nil, err
	}
	var pkts []packet
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.NFNL_SUBSYS_QUEUE<<8 | nfqnlMsgPacket:
			if p, ok := parsePacket(m.Data); ok {
				pkts = append(pkts, p)
			}
		case unix.NLMSG_ERROR:
			// A verdict the kernel refused (its packet is already gone, e.g. its device went down).
			if len(m.Data) >= 4 {
				if code := int32(binary.NativeEndian.Uint32(m.Data[0:4])); code != 0 {
					fmt.Fprintf(os.Stderr, "chaosrun-delayer: queue %d: a verdict was refused: %v\n", q.num, syscall.Errno(-code))
				}
			}
		}
	}
	return pkts, nil
}

func parsePacket(data []byte) (packet, bool) {
	if len(data) < 4 {
		return packet{}, false
	}
	var p packet
	found := false
	for b := data[4:]; len(b) >= 4; {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & 0x3fff
		if l < 4 || l > len(b) {
			break
		}
		v := b[4:l]
		switch typ {
		case nfqaPacketHdr:
			if len(v) >= 4 {
				p.id = binary.BigEndian.Uint32(v[0:4])
				found = true
			}
		case nfqaPayload:
			p.payload = v
		}
		next := (l + 3) &^ 3
		if next > len(b) {
			break
		}
		b = b[next:]
	}
	return p, found
}

// accept sends NF_ACCEPT for each id, several messages to one send.
func (q *queue) accept(ids []uint32) error {
	const perSend = 256
	for len(ids) > 0 {
		n := min(len(ids), perSend)
		var buf []byte
		for _, id := range ids[:n] {
			hdr := make([]byte, 8)
			binary.BigEndian.PutUint32(hdr[0:4], nfAccept)
			binary.BigEndian.PutUint32(hdr[4:8], id)
			buf = append(buf, q.message(nfqnlMsgVerdict, 0, attr(nfqaVerdictHdr, hdr))...)
		}
		if err := q.send(buf); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}
