package main

// `chaosrun-delayer queue-rule`: writes the one rule of a delay fault's chain, which sends every packet
// that reaches the chain to the delayer's queue, with bypass (no delayer bound: the packet passes).
//
// Why a Go helper writes this one rule and nft does not: nft can only write nft's own `queue`
// expression (module nft_queue, CONFIG_NFT_QUEUE), which some kernels lack (this project's test
// machine among them), while the xtables NFQUEUE target through nft_compat (CONFIG_NFT_COMPAT, which
// iptables-nft needs, so every node running kube-proxy in iptables mode has it) does the same job;
// nft lists that target but cannot write it. So the helper tries nft's own expression first and, when
// the kernel does not know it, the xtables target; it prints which one it wrote ("queue" or "xt").
//
// The rule replaces whatever the chain held (flush and add, one transaction) and carries the comment
// it is given: the agent's spec hash, as every rule of a fault's table does, so the agent reads the
// table back as whole only once this rule is in it.

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
)

// NFQ_FLAG_BYPASS of linux/netfilter/xt_NFQUEUE.h; the target's revision 3 is xt_NFQ_info_v3.
const (
	nfqFlagBypass = 0x01
	nfqTargetRev  = 3
)

// nfqueueInfo is struct xt_NFQ_info_v3 {u16 queuenum; u16 queues_total; u16 flags;} in host order,
// padded to XT_ALIGN (8), as the kernel's compat layer checks.
func nfqueueInfo(num uint16) *xt.Unknown {
	b := make([]byte, 8)
	binary.NativeEndian.PutUint16(b[0:2], num)
	binary.NativeEndian.PutUint16(b[2:4], 1)
	binary.NativeEndian.PutUint16(b[4:6], nfqFlagBypass)
	u := xt.Unknown(b)
	return &u
}

func queueRuleMain(args []string) int {
	fs := flag.NewFlagSet("chaosrun-delayer queue-rule", flag.ContinueOnError)
	table := fs.String("table", "", "the inet table (chaosrun_<id>)")
	chain := fs.String("chain", "", "its chain that gets the rule (ingress_fault)")
	num := fs.Uint("queue", 0, "the queue number, 1 to 65535")
	comment := fs.String("comment", "", "the rule's comment (at most 127 bytes)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "chaosrun-delayer queue-rule: "+format+"\n", a...)
		return 1
	}
	if *table == "" || *chain == "" || *num < 1 || *num > 65535 || len(*comment) > 127 {
		return fail("needs --table, --chain, --queue 1..65535 and a --comment of at most 127 bytes")
	}
	c, err := nftables.New()
	if err != nil {
		return fail("%v", err)
	}
	t := &nftables.Table{Name: *table, Family: nftables.TableFamilyINet}
	if _, err := c.ListChain(t, *chain); err != nil {
		return fail("table inet %s has no chain %s (%v)", *table, *chain, err)
	}
	ch := &nftables.Chain{Name: *chain, Table: t}
	write := func(e expr.Any) error {
		c.FlushChain(ch)
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{e}, UserData: userdata.AppendString(nil, userdata.TypeComment, *comment)})
		return c.Flush()
	}
	// The chain is there, so "no such file" from the batch means the kernel does not know the expression.
	unknown := func(err error) bool { return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) }
	err = write(&expr.Queue{Num: uint16(*num), Total: 1, Flag: expr.QueueFlagBypass})
	if err == nil {
		fmt.Println("queue")
		return 0
	}
	if !unknown(err) {
		return fail("writing the queue rule in table inet %s chain %s: %v", *table, *chain, err)
	}
	err = write(&expr.Target{Name: "NFQUEUE", Rev: nfqTargetRev, Info: nfqueueInfo(uint16(*num))})
	if err == nil {
		fmt.Println("xt")
		return 0
	}
	if unknown(err) {
		return fail("this kernel lacks both nft's queue expression (nft_queue, CONFIG_NFT_QUEUE) and the xtables NFQUEUE target (nft_compat and xt_NFQUEUE, CONFIG_NFT_COMPAT and CONFIG_NETFILTER_XT_TARGET_NFQUEUE), which delay needs")
	}
	return fail("writing the NFQUEUE rule in table inet %s chain %s: %v", *table, *chain, err)
}
