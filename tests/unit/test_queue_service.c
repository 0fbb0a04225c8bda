/* The queue-service sequence (src/virtio/queue_service.c) against fake
 * guest RAM and a real split ring: a test model whose hooks record what the
 * service asked of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/device.h"
#include "support/virtio_drv.h"
#include "virtio/queue_service.h"

#define RAM_SIZE (1u << 20)
#define DATA_GPA VIRTIO_DRV_BUF_GPA
#define QSIZE 4

struct model {
	struct virtio_dev vdev;
	struct virtq_chain chain;
	struct virtio_drv drv;
	int kick_fd;              /* the queue's kick eventfd: rekicks land here */
	unsigned handled;
	enum qs_verdict verdict;  /* what handle answers */
	unsigned add_during;      /* handle adds a chain while handling chain n (1-based) */
	bool kicks_off_seen;      /* kicks were off while a chain was handled */
	unsigned slots;           /* can_pop: chains it may still take (UINT_MAX: any) */
	unsigned resumes, batch_ends;
	bool resume_ok;
};

static struct model *to_model(struct virtio_dev *vdev)
{
	return container_of(vdev, struct model, vdev);
}

static void add_chain(struct model *m, unsigned i)
{
	struct drv_seg s = {DATA_GPA + 64 * i, 64, true};
	drv_ring_add(&m->drv.vq[0], &s, 1);
}

static enum qs_verdict t_handle(struct virtio_dev *vdev, unsigned q, struct virtq_chain *c)
{
	struct model *m = to_model(vdev);
	m->handled++;
	m->kicks_off_seen = m->kicks_off_seen || vdev->queues[q].vq.kicks_disabled;
	if (m->handled == m->add_during)
		add_chain(m, 100 + m->handled); /* the driver posts while kicks are off */
	if (m->verdict == QS_BROKEN) {
		virtio_dev_set_broken(vdev, "test model refused the chain");
		return QS_BROKEN;
	}
	virtq_push(&vdev->queues[q].vq, c->head, 1);
	if (m->slots != UINT32_MAX)
		m->slots--;
	return m->verdict;
}

static bool t_can_pop(struct virtio_dev *vdev, unsigned q)
{
	return to_model(vdev)->slots > 0;
}

static bool t_resume(struct virtio_dev *vdev, unsigned q)
{
	struct model *m = to_model(vdev);
	m->resumes++;
	return m->resume_ok;
}

static void t_batch_end(struct virtio_dev *vdev, unsigned q)
{
	to_model(vdev)->batch_ends++;
}

static const struct queue_service_ops t_ops = {
	.handle = t_handle,
	.can_pop = t_can_pop,
	.resume = t_resume,
	.batch_end = t_batch_end,
};

static void t_config_read(struct virtio_dev *vdev, unsigned off, uint8_t *d, unsigned len)
{
	memset(d, 0, len);
}

static void t_config_write(struct virtio_dev *vdev, unsigned off, const uint8_t *d, unsigned len)
{
}

static const struct virtio_dev_ops dev_ops = {
	.config_read = t_config_read,
	.config_write = t_config_write,
};

/* Brought up with or without event idx. */
static struct model *model_new(bool event_idx)
{
	struct model *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	virtio_drv_init(&m->drv, RAM_SIZE);
	uint64_t f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX);
	virtio_dev_init(&m->vdev, "test", VIRTIO_ID_RNG, 1, QSIZE, 0, f, &dev_ops,
			&m->drv.ram.mem, NULL);
	virtio_drv_start(&m->drv, &m->vdev,
			 event_idx ? f : (1ULL << VIRTIO_F_VERSION_1), 1, QSIZE);
	assert_true(m->vdev.live);
	m->kick_fd = eventfd(0, EFD_NONBLOCK);
	assert_true(m->kick_fd >= 0);
	m->vdev.queues[0].kick_fd = m->kick_fd;
	m->verdict = QS_NEXT;
	m->slots = UINT32_MAX;
	m->resume_ok = true;
	return m;
}

static void model_free(struct model *m)
{
	close(m->kick_fd);
	virtio_dev_destroy(&m->vdev);
	virtio_drv_destroy(&m->drv);
	free(m);
}

/* Rekicks the queue wrote to its kick eventfd since the last call. */
static uint64_t rekicks(struct model *m)
{
	uint64_t n = 0;
	if (read(m->kick_fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static uint16_t used_flags(struct model *m) { return drv_ring_used(&m->drv.vq[0])->flags; }

static void test_serves_all_and_signals_once(void **state)
{
	struct model *m = model_new(false);
	for (unsigned i = 0; i < 3; i++)
		add_chain(m, i);
	assert_int_equal(queue_service_run(&m->vdev, 0, &t_ops, &m->chain), QS_IDLE);
	assert_int_equal(m->handled, 3);
	assert_int_equal(drv_ring_used_idx(&m->drv.vq[0]), 3);
	assert_int_equal(m->drv.tr.signals[0], 1); /* one interrupt for the batch */
	assert_int_equal(m->batch_ends, 1);
	assert_true(m->kicks_off_seen);                 /* off while handling */
	assert_false(used_flags(m) & VIRTQ_USED_F_NO_NOTIFY); /* on after */
	assert_int_equal(rekicks(m), 0);

	/* Nothing new: no interrupt. */
	assert_int_equal(queue_service_run(&m->vdev, 0, &t_ops, &m->chain), QS_IDLE);
	assert_int_equal(m->drv.tr.signals[0], 1);
	model_free(m);
}

static void test_budget_spent_rekicks(void **state)
{
	struct model *m = model_new(false);
	for (unsigned i = 0; i < QSIZE; i++)
		add_chain(m, i);
	m->add_during = 1; /* one more arrives: QSIZE + 1 chains for a budget of QSIZE */
	assert_int_equal(queue_service_run(&m->vdev, 0, &t_ops, &m->chain), QS_REKICKED);
	assert_int_equal(m->handled, QSIZE);
	assert_int_equal(rekicks(m), 1);
	assert_int_equal(m->drv.tr.signals[0], 1);
	/* The self-kick's run takes the rest. */
	assert_int_equal(queue_service_run(&m->vdev, 0, &t_ops, &m->chain), QS_IDLE);
	assert_int_equal(m->handled, QSIZE + 1);
	assert_int_equal(rekicks(m), 0);
	model_free(m);
}

static void test_budget_spent_without_work_does_not_rekick(void **state)
{
	struct model *m = model_new(false);
	for (unsigned i = 0; i < QSIZE; i++)
		add_chain(m, i);
	assert_int_equal(queue_service_run(&m->vdev, 0, &t_ops, &m->chain), QS_IDLE);
	assert_int_equal(m->handled, QSIZE);
	assert_int_equal(rekicks(m), 0);
	model_free(m);
}

/* §2.7.10: a buffer the driver posts while kicks are off (it sends no
 * kick) is served in the same run, and kicks are on again afterwards —
 * with event idx, avail_event says "kick me at the next buffer". */
static void test_posted_while_kicks_off_is_served(void **state)
{
	struct model *m = model_new(true);
	add_chain(m, 0);
	m->add_during = 1;
	assert_int_equal(queue_service_run(&m->vdev, 0, &t_ops, &m->chain), QS_IDLE);
	assert_int_equal(m->handled, 2);
	assert_int_equal(rekicks(m), 0);
	struct virtqueue *vq = &m->vdev.queues[0].vq;
	assert_false(vq->kicks_disabled);
	assert_int_equal(*vq->avail_event, 2); /* kick me when idx passes 2 */
	model_free(m);
}

static void test_bad_chain_breaks_device(void **state)
{
	struct model *m = model_new(false);
	struct drv_seg s = {RAM_SIZE + 0x1000, 64, true}; /* outside guest RAM */
	drv_ring_add(&m->drv.vq[0], &s, 1);
	add_chain(m, 1);
	assert_int_equal(queue_service_run(&m->vdev, 0, &t_ops, &m->chain), QS_STOPPED);
	assert_int_equal(m->handled, 0);
	assert_true(m->vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_false(m->vdev.live);
	assert_int_equal(m->vdev.queues[0].counters.rejected, 1);
	assert_int_equal(m->drv.tr.signals[0], 0);
	/* A broken device is not served again. */
	assert_int_equal(queue_service_run(&m->vdev, 0, &t_ops, &m->chain), QS_STOPPED);
	assert_int_equal(m->handled, 0);
	model_free(m);
}

static void test_model_refusal_breaks_device(void **state)
{
	struct model *m = model_new(false);
	add_chain(m, 0);
	add_chain(m, 1);
	m->verdict = QS_BROKEN;
	assert_int_equal(queue_service_run(&m->vdev, 0, &t_ops, &m->chain), QS_STOPPED);
	assert_int_equal(m->handled, 1); /* the second is never popped */
	assert_true(m->vdev.status & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(m->vdev.queues[0].counters.rejected, 1);
	model_free(m);
}

/* blk's case: no free slot while work waits pauses with kicks off; the
 * model's next run (a completion) takes the rest. */
static void test_can_pop_refusal_pauses(void **state)
{
	struct model *m = model_new(false);
	for (unsigned i = 0; i < 3; i++)
		add_chain(m, i);
	m->slots = 2;
	assert_int_equal(queue_service_run(&m->vdev, 0, &t_ops, &m->chain), QS_PAUSED);
	assert_int_equal(m->handled, 2);
	assert_true(used_flags(m) & VIRTQ_USED_F_NO_NOTIFY); /* kicks stay off */
	assert_int_equal(m->drv.tr.signals[0], 1);          /* what was used is signalled */
	m->slots = 5;
	assert_int_equal(queue_service_run(&m->vdev, 0, &t_ops, &m->chain), QS_IDLE);
	assert_int_equal(m->handled, 3);
	assert_false(used_flags(m) & VIRTQ_USED_F_NO_NOTIFY);
	model_free(m);
}

/* console TX's case: a paused model that still cannot finish what it
 * holds pops nothing. */
static void test_resume_refusal_stays_paused(void **state)
{
	struct model *m = model_new(false);
	add_chain(m, 0);
	add_chain(m, 1);
	m->verdict = QS_PAUSE;
	assert_int_equal(queue_service_run(&m->vdev, 0, &t_ops, &m->chain), QS_PAUSED);
	assert_int_equal(m->handled, 1);
	m->resume_ok = false;
	m->verdict = QS_NEXT;
	assert_int_equal(queue_service_run(&m->vdev, 0, &t_ops, &m->chain), QS_PAUSED);
	assert_int_equal(m->handled, 1);
	assert_int_equal(m->batch_ends, 2);
	m->resume_ok = true;
	assert_int_equal(queue_service_run(&m->vdev, 0, &t_ops, &m->chain), QS_IDLE);
	assert_int_equal(m->handled, 2);
	assert_int_equal(m->resumes, 3);
	model_free(m);
}

static void test_not_live_does_nothing(void **state)
{
	struct model *m = model_new(false);
	add_chain(m, 0);
	virtio_drv_reset(&m->vdev);
	assert_int_equal(queue_service_run(&m->vdev, 0, &t_ops, &m->chain), QS_STOPPED);
	assert_int_equal(m->handled, 0);
	assert_int_equal(m->resumes, 0);
	model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serves_all_and_signals_once),
		cmocka_unit_test(test_budget_spent_rekicks),
		cmocka_unit_test(test_budget_spent_without_work_does_not_rekick),
		cmocka_unit_test(test_posted_while_kicks_off_is_served),
		cmocka_unit_test(test_bad_chain_breaks_device),
		cmocka_unit_test(test_model_refusal_breaks_device),
		cmocka_unit_test(test_can_pop_refusal_pauses),
		cmocka_unit_test(test_resume_refusal_stays_paused),
		cmocka_unit_test(test_not_live_does_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
