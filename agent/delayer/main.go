// chaosrun-delayer: holds the packets of one NFQUEUE queue for a while, then lets them go. The node
// agent (src/agent/delayers.ts) starts one per delay fault inside the target pod's network namespace
// (`nsenter --net=<netns> chaosrun-delayer --queue N --latency 100ms --jitter 10ms --parent-pid <agent>`);
// the fault's nftables rule sends the packets that reach the target to queue N with bypass.
//
//	chaosrun-delayer --queue N --latency D [--jitter D] [--max-held N] [--parent-pid PID]
//	chaosrun-delayer queue-rule --table chaosrun_<id> --chain ingress_fault --queue N --comment TEXT
//	chaosrun-delayer --version
//
// What bounds it, so a delay never outlives its supervision (architecture invariant 6):
//   - the rule only matches while the fault's lease set holds the peers (the kernel expires it), and
//     it queues with bypass: with no delayer bound to the queue, packets pass undelayed (fails open);
//   - the delayer never drops: beyond --max-held packets held at once (and when its socket is full) a
//     packet is accepted at once; the kernel queue's own length is the same bound, with fail-open;
//   - it exits on SIGTERM, releasing everything it holds first and accepting what still arrives until
//     the queue has been quiet for 50 ms (at most a second); a SIGKILLed delayer's held packets are
//     dropped by the kernel (at most --latency worth; TCP resends them) and the rest pass by bypass;
//   - it exits when its parent (the agent) dies: it sets its own parent-death signal (prctl
//     PR_SET_PDEATHSIG, SIGTERM) on the main thread at start, then checks that its parent is still the
//     --parent-pid it was given. Setting it here rather than through `setpriv --pdeathsig` closes the
//     race where the agent dies between fork and prctl (the check sees the orphaning), needs no
//     util-linux version with --pdeathsig, and Node cannot set it for its children itself.
//
// Holding: latency ± uniform jitter, in per-flow order (hold.go). Libraries: golang.org/x/sys for the
// queue (nfqueue.go: the proxy this project builds from does not serve florianl/go-nfqueue) and
// github.com/google/nftables for the one rule nft cannot write on kernels without nft_queue (rule.go).
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// version is stamped by build.sh (-X main.version=...); a plain `go build` says "dev".
var version = "dev"

func init() {
	// The parent-death signal belongs to the thread that sets it: keep main (which sets it) on the
	// process's main thread, which lives as long as the process.
	runtime.LockOSThread()
}

const copyRange = 128

func main() {
	if len(os.Args) > 1 && os.Args[1] == "queue-rule" {
		os.Exit(queueRuleMain(os.Args[2:]))
	}
	os.Exit(delayMain(os.Args[1:]))
}

func delayMain(args []string) int {
	fs := flag.NewFlagSet("chaosrun-delayer", flag.ContinueOnError)
	showVersion := fs.Bool("version", false, "print the version and exit")
	num := fs.Uint("queue", 0, "the NFQUEUE queue number to bind, 1 to 65535")
	latency := fs.Duration("latency", 0, "how long each packet is held (e.g. 100ms), above 0 and at most 10s")
	jitter := fs.Duration("jitter", 0, "uniform spread around the latency (e.g. 10ms), at most the latency")
	maxHeld := fs.Int("max-held", 10000, "packets held at once; beyond it a packet passes at once")
	parentPid := fs.Int("parent-pid", 0, "exit when this process (our parent) is gone; 0: the parent at start")
	bindFor := fs.Duration("bind-timeout", 3*time.Second, "how long to retry a queue another process still holds")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Printf("chaosrun-delayer %s (%s)\n", version, runtime.Version())
		return 0
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "chaosrun-delayer: "+format+"\n", a...)
		return 1
	}
	switch {
	case *num < 1 || *num > 65535:
		return fail("--queue must be 1 to 65535, got %d", *num)
	case *latency <= 0 || *latency > 10*time.Second:
		return fail("--latency must be above 0 and at most 10s, got %v", *latency)
	case *jitter < 0 || *jitter > *latency:
		return fail("--jitter must be from 0 to the latency (%v), got %v", *latency, *jitter)
	case *maxHeld < 1 || *maxHeld > 1_000_000:
		return fail("--max-held must be 1 to 1000000, got %d", *maxHeld)
	}

	// Parent death first: from here on, an agent that dies takes this process with it.
	expected := *parentPid
	if expected == 0 {
		expected = os.Getppid()
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0); err != nil {
		return fail("prctl(PR_SET_PDEATHSIG): %v", err)
	}
	if os.Getppid() != expected {
		return fail("the parent (pid %d) is already gone; not starting", expected)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	q, err := openQueue(uint16(*num), copyRange, uint32(*maxHeld), *bindFor)
	if err != nil {
		return fail("%v", err)
	}
	q.setReadTimeout(50 * time.Millisecond)
	d := &delayer{q: q, sched: NewSchedule(*latency, *jitter, *maxHeld, rand.Float64), wake: make(chan struct{}, 1)}
	fmt.Fprintf(os.Stderr, "chaosrun-delayer: holding queue %d: latency %v, jitter %v, at most %d held\n", *num, *latency, *jitter, *maxHeld)
	readErr := make(chan error, 1)
	go func() { readErr <- d.readLoop() }()
	go d.releaseLoop()

	why := ""
	select {
	case s := <-stop:
		why = s.String()
	case err := <-readErr:
		d.drainAndExit(fmt.Sprintf("reading the queue failed: %v", err))
		return 1
	}
	d.drainAndExit(why)
	return 0
}

type delayer struct {
	q     *queue
	mu    sync.Mutex
	sched *Schedule
	wake  chan struct{}
	// Once draining, every packet is accepted as it arrives.
	draining   bool
	lastPacket time.Time
	heldTotal  uint64
	passedNow  uint64
}

func (d *delayer) readLoop() error {
	for {
		pkts, err := d.q.read()
		if err != nil {
			return err
		}
		if len(pkts) == 0 {
			continue
		}
		now := time.Now()
		var at []uint32
		d.mu.Lock()
		d.lastPacket = now
		for _, p := range pkts {
			if !d.draining && d.sched.Admit(p.id, p.payload, now) {
				d.heldTotal++
			} else {
				at = append(at, p.id)
				d.passedNow++
			}
		}
		d.mu.Unlock()
		if len(at) > 0 {
			if err := d.q.accept(at); err != nil {
				return err
			}
		}
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

func (d *delayer) releaseLoop() {
	timer := time.NewTimer(time.Hour)
	for {
		d.mu.Lock()
		ids, next := d.sched.Due(time.Now())
		d.mu.Unlock()
		if len(ids) > 0 {
			if err := d.q.accept(ids); err != nil {
				fmt.Fprintf(os.Stderr, "chaosrun-delayer: queue %d: sending verdicts: %v\n", d.q.num, err)
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = time.Until(next)
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-d.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
	}
}

// drainAndExit releases everything held, accepts what still arrives until the queue has been quiet
// for 50 ms (at most a second), and reports.
func (d *delayer) drainAndExit(why string) {
	d.mu.Lock()
	d.draining = true
	held := d.sched.All()
	d.mu.Unlock()
	_ = d.q.accept(held)
	end := time.Now().Add(time.Second)
	for time.Now().Before(end) {
		time.Sleep(10 * time.Millisecond)
		d.mu.Lock()
		quiet := time.Since(d.lastPacket) >= 50*time.Millisecond
		d.mu.Unlock()
		if quiet {
			break
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(os.Stderr, "chaosrun-delayer: queue %d: exiting (%s): held %d packets, passed %d at once, released %d still held\n",
		d.q.num, why, d.heldTotal, d.passedNow, len(held))
}
