// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Namespace lifecycle and the reclaiming of per-port state, run by user space
 * (BPF_PROG_TEST_RUN), never attached.
 * netns_walk: the live namespaces are the kernel's net_namespace_list, which setup_net() adds
 * to and cleanup_net() takes a namespace out of (list_del_rcu()) once nothing refers to it, before
 * its sockets and TIME_WAITs are purged; the list is RCU-safe (for_each_net_rcu()) and a test run
 * holds rcu_read_lock(). The head is not exported through BTF and /proc/kallsyms is not to be
 * relied on, so the walk starts at the agent's own namespace and goes round the ring: the head
 * is the one node whose container is not a namespace (its ns.ops is not netns_operations).
 * slots_retire: requests of user space on counter slots and listener entries, done here so the
 * listener's slot is cleared with a compare-and-swap, never by rewriting a live entry.
 */
#include "timewait.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TW_NETNS_MAX);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct tw_netns_id);
} netns_live SEC(".maps");

struct tw_netns_walk netns_walk_stats = {};
struct tw_retire_args retire_args = {};

struct walk_pos {
	__u64 start; /* &net->list of the agent's namespace */
	__u64 node;
	__u64 ops; /* netns_operations, as the agent's namespace has it */
};

static __always_inline bool netns_add(const struct net *net)
{
	__u32 at = netns_walk_stats.n;
	struct tw_netns_id *e;

	if (at >= TW_NETNS_MAX)
		return false;
	e = bpf_map_lookup_elem(&netns_live, &at);
	if (!e)
		return false;
	e->cookie = net_cookie(net);
	e->inum = BPF_CORE_READ(net, ns.inum);
	e->pad = 0;
	netns_walk_stats.n = at + 1;
	return true;
}

static long walk_step(__u32 i, struct walk_pos *w)
{
	const struct net *net;
	__u64 next = 0;

	netns_walk_stats.steps++;
	if (bpf_probe_read_kernel(&next, sizeof(next), (const void *)w->node) || !next)
		return 1;
	if (next == w->start) {
		netns_walk_stats.complete = 1;
		return 1;
	}
	w->node = next;
	net = (const void *)(next - bpf_core_field_offset(struct net, list));
	if ((__u64)BPF_CORE_READ(net, ns.ops) != w->ops)
		return 0; /* net_namespace_list itself */
	return netns_add(net) ? 0 : 1;
}

SEC("raw_tp")
int netns_walk(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	const struct net *net = BPF_CORE_READ(task, nsproxy, net_ns);
	struct walk_pos w = {};

	__builtin_memset(&netns_walk_stats, 0, sizeof(netns_walk_stats));
	if (!net || !netns_add(net))
		return 0;
	w.start = (__u64)net + bpf_core_field_offset(struct net, list);
	w.node = w.start;
	w.ops = (__u64)BPF_CORE_READ(net, ns.ops);
	/* every namespace, the head, and the step back to the start */
	bpf_loop(TW_NETNS_MAX + 2, walk_step, &w, 0);
	return 0;
}

/* Takes the listener's reference to slot; true if it held it. */
static __always_inline bool listener_release(const struct tw_port_key *k, __u32 slot)
{
	struct tw_listener *l;

	if (k->side != TW_SIDE_LOCAL)
		return false;
	l = port_listener(k->netns_cookie, k->port);
	return l && __sync_val_compare_and_swap(&l->slot, slot, TW_NO_SLOT) == slot;
}

static __always_inline void slot_free(struct tw_retire_req *r)
{
	struct tw_port_val *v = bpf_map_lookup_elem(&port_ctr, &r->slot);
	struct tw_port_key *k = bpf_map_lookup_elem(&port_keys, &r->slot);

	if (!v || !k)
		return;
	/* the last values: nothing writes them any more (no key, no listener, no live tw) */
	r->val = *v;
	__builtin_memset(v, 0, sizeof(*v));
	__builtin_memset(k, 0, sizeof(*k));
	r->result = 1;
	/* the queue holds every slot: a push cannot find it full */
	bpf_map_push_elem(&port_free, &r->slot, 0);
}

/* Deletes listener entries of the namespaces in retire_args (op TW_RETIRE_LISTEN). */
static long listen_drop(struct bpf_map *map, struct tw_listen_key *k, struct tw_listener *v,
			void *ctx)
{
	for (__u32 i = 0; i < TW_RETIRE_BATCH && i < retire_args.n; i++) {
		struct tw_retire_req *r = &retire_args.req[i];

		if (r->op == TW_RETIRE_LISTEN && r->key.netns_cookie == k->netns_cookie) {
			if (!bpf_map_delete_elem(map, k))
				r->result++;
			break;
		}
	}
	return 0;
}

static long retire_step(__u32 i, void *ctx)
{
	struct tw_retire_req *r;

	if (i >= TW_RETIRE_BATCH || i >= retire_args.n)
		return 1;
	r = &retire_args.req[i];
	r->result = 0;
	switch (r->op) {
	case TW_RETIRE_UNMAP: {
		__u32 *s = bpf_map_lookup_elem(&port_slot, &r->key);

		if (s && *s == r->slot && !bpf_map_delete_elem(&port_slot, &r->key))
			r->result = 1;
		listener_release(&r->key, r->slot);
		break;
	}
	case TW_RETIRE_FREE:
		/* a program that read the listener's slot just before the unmap wrote it back */
		if (!listener_release(&r->key, r->slot))
			slot_free(r);
		else
			r->result = 2;
		break;
	}
	return 0;
}

SEC("raw_tp")
int slots_retire(void *ctx)
{
	bool listen = false;

	bpf_loop(TW_RETIRE_BATCH, retire_step, NULL, 0);
	for (__u32 i = 0; i < TW_RETIRE_BATCH && i < retire_args.n && !listen; i++)
		listen = retire_args.req[i].op == TW_RETIRE_LISTEN;
	if (listen)
		bpf_for_each_map_elem(&listen_ports, listen_drop, NULL, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
