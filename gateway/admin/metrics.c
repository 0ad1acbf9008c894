/*
 * metrics.c: the registry behind include/metrics.h. Owns the per-thread
 * tables of series, the list of those tables, and the Prometheus text
 * exposition (format 0.0.4) a scrape writes.
 *
 * A table is written by its own thread only. A series is published by a
 * release store of its `used` flag after its key is written; its key never
 * changes afterwards, so a scraping thread that reads `used` with acquire
 * may read the key without a lock, and reads the values with relaxed
 * loads (a scrape may see one histogram observation half counted: the
 * next scrape sees it whole).
 *
 * Never: take a lock or an atomic read-modify-write when counting, free a
 * table (threads come and go with the process), write an unescaped label.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define LABELS_MAX 192
/* One escaped label value; two and their names always fit in LABELS_MAX. */
#define VALUE_MAX 81
/* Histogram buckets of every histogram, upper bounds in microseconds. */
static const uint64_t bucket_us[] = {5000,    10000,   25000,   50000,    100000,   250000,  500000,
                                     1000000, 2500000, 5000000, 10000000, 30000000, 60000000};
#define N_BUCKETS (sizeof bucket_us / sizeof bucket_us[0])
#define V_COUNT   N_BUCKETS       /* histogram: observations */
#define V_SUM     (N_BUCKETS + 1) /* histogram: their sum, microseconds */
#define N_VALUES  (N_BUCKETS + 2)

struct series {
	atomic_uint used; /* 0, then 1 for ever once the key below is written */
	uint32_t hash;
	unsigned metric;
	char labels[LABELS_MAX];   /* rendered and escaped: listener="..",result=".." */
	atomic_ullong v[N_VALUES]; /* counter/gauge: v[0]; histogram: buckets, count, sum */
};

struct table {
	struct series *slots;
	size_t n_slots; /* a power of two */
	size_t n_used;  /* the owner's count; at most max_series */
	size_t max_series;
	struct table *next;
};

#define METRICS_NAME(e, name, ...) [e] = name,
static const char *const metric_names[M_MAX] = {METRICS_LIST(METRICS_NAME)};
#undef METRICS_NAME
#define METRICS_TYPE(e, name, type, ...) [e] = type,
static const enum metric_type metric_types[M_MAX] = {METRICS_LIST(METRICS_TYPE)};
#undef METRICS_TYPE
#define METRICS_L1(e, name, type, l1, ...) [e] = l1,
static const char *const metric_l1[M_MAX] = {METRICS_LIST(METRICS_L1)};
#undef METRICS_L1
#define METRICS_L2(e, name, type, l1, l2, ...) [e] = l2,
static const char *const metric_l2[M_MAX] = {METRICS_LIST(METRICS_L2)};
#undef METRICS_L2
#define METRICS_HELP(e, name, type, l1, l2, help) [e] = help,
static const char *const metric_help[M_MAX] = {METRICS_LIST(METRICS_HELP)};
#undef METRICS_HELP

static pthread_mutex_t tables_lock = PTHREAD_MUTEX_INITIALIZER;
static struct table *tables; /* every thread's, newest first; never shrinks */
static size_t series_limit = 1024;
static _Thread_local struct table *self;
static _Thread_local bool self_failed; /* out of memory once: count nothing on this thread */

void metrics_init(size_t max_series)
{
	pthread_mutex_lock(&tables_lock);
	series_limit = max_series ? max_series : 1;
	pthread_mutex_unlock(&tables_lock);
}

static struct table *table_self(void)
{
	if (self || self_failed)
		return self;
	struct table *t = calloc(1, sizeof *t);
	pthread_mutex_lock(&tables_lock);
	size_t n = 16;
	while (n < series_limit + series_limit / 2)
		n *= 2;
	if (t && (t->slots = calloc(n, sizeof *t->slots))) {
		t->n_slots = n;
		t->max_series = series_limit;
		t->next = tables;
		tables = t;
		self = t;
	} else {
		free(t);
		self_failed = true;
	}
	pthread_mutex_unlock(&tables_lock);
	return self;
}

/* Prometheus label values escape backslash, quote and newline; other controls become '_'. */
static size_t escape_value(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	for (; in && *in; in++) {
		unsigned char c = (unsigned char)*in;
		const char *rep = c == '\\' ? "\\\\" : c == '"' ? "\\\"" : c == '\n' ? "\\n" : NULL;
		size_t n = rep ? 2 : 1;
		if (o + n >= cap)
			break;
		if (rep)
			memcpy(out + o, rep, 2);
		else
			out[o] = c < 0x20 || c == 0x7f ? '_' : (char)c;
		o += n;
	}
	out[o] = '\0';
	return o;
}

/* name="escaped value" at out + *at, bounded by LABELS_MAX (never reached: see VALUE_MAX). */
static void put_label(char *out, size_t *at, const char *name, const char *v)
{
	char e[VALUE_MAX];
	size_t en = escape_value(v ? v : "", e, sizeof e), nn = strlen(name);
	if (*at + nn + en + 4 >= LABELS_MAX)
		return;
	memcpy(out + *at, name, nn);
	out[*at + nn] = '=';
	out[*at + nn + 1] = '"';
	memcpy(out + *at + nn + 2, e, en);
	out[*at + nn + 2 + en] = '"';
	*at += nn + en + 3;
	out[*at] = '\0';
}

/* Rendered for every count (several per message): copies, not a printf format. */
static void render_labels(enum metric_id m, const char *v1, const char *v2, char *out)
{
	size_t at = 0;
	out[0] = '\0';
	if (!metric_l1[m])
		return;
	put_label(out, &at, metric_l1[m], v1);
	if (!metric_l2[m])
		return;
	out[at++] = ',';
	out[at] = '\0';
	put_label(out, &at, metric_l2[m], v2);
}

static uint32_t key_hash(unsigned m, const char *labels)
{
	uint32_t h = 2166136261u ^ m;
	for (const unsigned char *p = (const unsigned char *)labels; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

/* The owner's series for (m, labels), made when new; NULL when the table is full. */
static struct series *series_find(struct table *t, enum metric_id m, const char *labels)
{
	uint32_t h = key_hash(m, labels);
	for (size_t i = 0; i < t->n_slots; i++) {
		struct series *s = &t->slots[(h + i) & (t->n_slots - 1)];
		if (!atomic_load_explicit(&s->used, memory_order_relaxed)) {
			if (t->n_used >= t->max_series && m != M_DROPPED)
				return NULL; /* the dropped counter itself always finds room */
			s->hash = h;
			s->metric = m;
			snprintf(s->labels, sizeof s->labels, "%s", labels);
			atomic_store_explicit(&s->used, 1, memory_order_release);
			t->n_used++;
			return s;
		}
		if (s->hash == h && s->metric == (unsigned)m && strcmp(s->labels, labels) == 0)
			return s;
	}
	return NULL;
}

/* Only the owner writes: a relaxed load and store, no read-modify-write. */
static void bump(atomic_ullong *v, uint64_t n)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

static struct series *series_self(enum metric_id m, const char *l1, const char *l2)
{
	char labels[LABELS_MAX];
	struct table *t = table_self();
	if (!t || (unsigned)m >= M_MAX)
		return NULL;
	render_labels(m, l1, l2, labels);
	struct series *s = series_find(t, m, labels);
	if (!s) {
		struct series *d = series_find(t, M_DROPPED, "");
		if (d)
			bump(&d->v[0], 1);
	}
	return s;
}

void metrics_add(enum metric_id m, const char *l1, const char *l2, uint64_t n)
{
	struct series *s = series_self(m, l1, l2);
	if (s)
		bump(&s->v[0], n);
}

void metrics_gauge_add(enum metric_id m, const char *l1, int64_t delta)
{
	struct series *s = series_self(m, l1, NULL);
	if (s)
		bump(&s->v[0], (uint64_t)delta); /* wraps: the sum over threads is right */
}

void metrics_set(enum metric_id m, const char *l1, uint64_t v)
{
	struct series *s = series_self(m, l1, NULL);
	if (s)
		atomic_store_explicit(&s->v[0], v, memory_order_relaxed);
}

void metrics_observe(enum metric_id m, const char *l1, uint64_t usec)
{
	struct series *s = series_self(m, l1, NULL);
	if (!s)
		return;
	size_t b = 0;
	while (b < N_BUCKETS && usec > bucket_us[b])
		b++;
	if (b < N_BUCKETS)
		bump(&s->v[b], 1);
	bump(&s->v[V_COUNT], 1);
	bump(&s->v[V_SUM], usec);
}

/* ---- scraping ---- */

/* One series summed over threads. */
struct merged {
	unsigned metric;
	const char *labels; /* points into a published series: never changes */
	uint64_t v[N_VALUES];
};

static int merged_cmp(const void *a, const void *b)
{
	const struct merged *x = a, *y = b;
	if (x->metric != y->metric)
		return x->metric < y->metric ? -1 : 1;
	return strcmp(x->labels, y->labels);
}

static void merge_into(struct merged *dst, const struct series *s)
{
	enum metric_type t = metric_types[s->metric];
	for (size_t k = 0; k < N_VALUES; k++) {
		uint64_t v = atomic_load_explicit(&s->v[k], memory_order_relaxed);
		if (t == MT_GAUGE_MAX)
			dst->v[k] = v > dst->v[k] ? v : dst->v[k];
		else
			dst->v[k] += v;
	}
}

/* Every published series of every table, sorted, equal keys merged. Caller holds the lock. */
static struct merged *collect(size_t *n_out)
{
	size_t cap = 0, n = 0;
	for (struct table *t = tables; t; t = t->next)
		cap += t->n_slots;
	struct merged *all = calloc(cap ? cap : 1, sizeof *all);
	if (!all)
		return NULL;
	for (struct table *t = tables; t; t = t->next)
		for (size_t i = 0; i < t->n_slots; i++) {
			const struct series *s = &t->slots[i];
			if (!atomic_load_explicit(&s->used, memory_order_acquire))
				continue;
			all[n].metric = s->metric;
			all[n].labels = s->labels;
			merge_into(&all[n++], s);
		}
	qsort(all, n, sizeof *all, merged_cmp);
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		if (w && merged_cmp(&all[w - 1], &all[i]) == 0) {
			struct merged *d = &all[w - 1];
			for (size_t k = 0; k < N_VALUES; k++)
				d->v[k] = metric_types[d->metric] == MT_GAUGE_MAX
				              ? (all[i].v[k] > d->v[k] ? all[i].v[k] : d->v[k])
				              : d->v[k] + all[i].v[k];
			continue;
		}
		all[w++] = all[i];
	}
	*n_out = w;
	return all;
}

static void write_histogram(FILE *f, const char *name, const struct merged *e)
{
	const char *sep = e->labels[0] ? "," : "";
	uint64_t cum = 0;
	for (size_t b = 0; b < N_BUCKETS; b++) {
		cum += e->v[b];
		fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, e->labels, sep,
		        (double)bucket_us[b] / 1e6, (unsigned long long)cum);
	}
	fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, e->labels, sep,
	        (unsigned long long)e->v[V_COUNT]);
	const char *open = e->labels[0] ? "{" : "", *close = e->labels[0] ? "}" : "";
	fprintf(f, "%s_sum%s%s%s %.6f\n", name, open, e->labels, close, (double)e->v[V_SUM] / 1e6);
	fprintf(f, "%s_count%s%s%s %llu\n", name, open, e->labels, close,
	        (unsigned long long)e->v[V_COUNT]);
}

static void write_series(FILE *f, const struct merged *e)
{
	const char *name = metric_names[e->metric];
	enum metric_type t = metric_types[e->metric];
	if (t == MT_HISTOGRAM) {
		write_histogram(f, name, e);
		return;
	}
	const char *open = e->labels[0] ? "{" : "", *close = e->labels[0] ? "}" : "";
	if (t == MT_GAUGE)
		fprintf(f, "%s%s%s%s %lld\n", name, open, e->labels, close, (long long)e->v[0]);
	else
		fprintf(f, "%s%s%s%s %llu\n", name, open, e->labels, close,
		        (unsigned long long)e->v[0]);
}

static const char *type_name(enum metric_type t)
{
	return t == MT_COUNTER ? "counter" : t == MT_HISTOGRAM ? "histogram" : "gauge";
}

int metrics_write(FILE *f, const char *version)
{
	size_t n = 0, i = 0;
	pthread_mutex_lock(&tables_lock);
	struct merged *all = collect(&n);
	for (unsigned m = 0; all && m < M_MAX; m++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", metric_names[m], metric_help[m],
		        metric_names[m], type_name(metric_types[m]));
		bool any = false;
		for (; i < n && all[i].metric == m; i++, any = true)
			write_series(f, &all[i]);
		if (!any && !metric_l1[m]) { /* an unlabelled metric is always there, 0 at first */
			struct merged zero = {.metric = m, .labels = ""};
			write_series(f, &zero);
		}
	}
	pthread_mutex_unlock(&tables_lock);
	char ev[LABELS_MAX];
	escape_value(version, ev, sizeof ev);
	fprintf(f,
	        "# HELP smtp_gateway_build_info The running version.\n"
	        "# TYPE smtp_gateway_build_info gauge\n"
	        "smtp_gateway_build_info{version=\"%s\"} 1\n",
	        ev);
	free(all);
	return all ? 0 : -1;
}

uint64_t metrics_value(enum metric_id m, const char *l1, const char *l2)
{
	char labels[LABELS_MAX];
	uint64_t sum = 0;
	if ((unsigned)m >= M_MAX)
		return 0;
	render_labels(m, l1, l2, labels);
	size_t k = metric_types[m] == MT_HISTOGRAM ? V_COUNT : 0;
	pthread_mutex_lock(&tables_lock);
	for (struct table *t = tables; t; t = t->next)
		for (size_t i = 0; i < t->n_slots; i++) {
			const struct series *s = &t->slots[i];
			if (atomic_load_explicit(&s->used, memory_order_acquire) &&
			    s->metric == (unsigned)m && strcmp(s->labels, labels) == 0)
				sum += atomic_load_explicit(&s->v[k], memory_order_relaxed);
		}
	pthread_mutex_unlock(&tables_lock);
	return sum;
}
