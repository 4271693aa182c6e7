/*
 * Unit tests of chimney-nic's heap of connection deadlines
 *
 * Copyright (c) 2026 The qemu-chimney authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/net/chimney/chimney-timer.h"

typedef struct Item {
    ChimneyTimerEntry e;
    uint32_t id;
} Item;

/* Expire everything due at @now; the ids in expiry order */
static GArray *expire_all(ChimneyTimers *t, int64_t now)
{
    GArray *out = g_array_new(false, false, sizeof(uint32_t));
    ChimneyTimerEntry *e;
    int64_t last = -1;

    while ((e = chimney_timer_expire(t, now))) {
        Item *it = container_of(e, Item, e);

        g_assert_false(chimney_timer_pending(e));
        g_assert_cmpint(e->deadline, <=, now);
        g_assert_cmpint(e->deadline, >=, last);
        last = e->deadline;
        g_array_append_val(out, it->id);
    }
    return out;
}

static void test_timer_order(void)
{
    static const int64_t when[] = { 50, 10, 40, 30, 20, 60 };
    ChimneyTimers t;
    Item it[6] = { 0 };
    g_autoptr(GArray) a = NULL, b = NULL;

    chimney_timer_init(&t);
    g_assert_cmpint(chimney_timer_next(&t), ==, -1);
    g_assert_null(chimney_timer_expire(&t, INT64_MAX));
    for (int i = 0; i < 6; i++) {
        it[i].id = i;
        g_assert_false(chimney_timer_pending(&it[i].e));
        chimney_timer_set(&t, &it[i].e, when[i]);
        g_assert_true(chimney_timer_pending(&it[i].e));
    }
    g_assert_cmpint(chimney_timer_next(&t), ==, 10);
    /* nothing before its time */
    g_assert_null(chimney_timer_expire(&t, 9));
    a = expire_all(&t, 35);
    g_assert_cmpuint(a->len, ==, 3);
    g_assert_cmpuint(g_array_index(a, uint32_t, 0), ==, 1);
    g_assert_cmpuint(g_array_index(a, uint32_t, 1), ==, 4);
    g_assert_cmpuint(g_array_index(a, uint32_t, 2), ==, 3);
    g_assert_cmpint(chimney_timer_next(&t), ==, 40);
    b = expire_all(&t, 1000);
    g_assert_cmpuint(b->len, ==, 3);
    g_assert_cmpuint(g_array_index(b, uint32_t, 0), ==, 2);
    g_assert_cmpuint(g_array_index(b, uint32_t, 1), ==, 0);
    g_assert_cmpuint(g_array_index(b, uint32_t, 2), ==, 5);
    g_assert_cmpint(chimney_timer_next(&t), ==, -1);
    chimney_timer_destroy(&t);
}

/* Moving an entry either way, and advance never moving it later */
static void test_timer_move(void)
{
    ChimneyTimers t;
    Item it[3] = { { .id = 0 }, { .id = 1 }, { .id = 2 } };
    g_autoptr(GArray) a = NULL;

    chimney_timer_init(&t);
    chimney_timer_set(&t, &it[0].e, 100);
    chimney_timer_set(&t, &it[1].e, 200);
    chimney_timer_set(&t, &it[2].e, 300);
    chimney_timer_set(&t, &it[0].e, 400);          /* later */
    g_assert_cmpint(chimney_timer_next(&t), ==, 200);
    chimney_timer_set(&t, &it[2].e, 50);           /* earlier */
    g_assert_cmpint(chimney_timer_next(&t), ==, 50);
    /* advance: a later deadline leaves it, an earlier one moves it */
    g_assert_false(chimney_timer_advance(&t, &it[1].e, 250));
    g_assert_cmpint(it[1].e.deadline, ==, 200);
    g_assert_false(chimney_timer_advance(&t, &it[1].e, 200));
    g_assert_true(chimney_timer_advance(&t, &it[1].e, 10));
    g_assert_cmpint(chimney_timer_next(&t), ==, 10);
    a = expire_all(&t, 1000);
    g_assert_cmpuint(a->len, ==, 3);
    g_assert_cmpuint(g_array_index(a, uint32_t, 0), ==, 1);
    g_assert_cmpuint(g_array_index(a, uint32_t, 1), ==, 2);
    g_assert_cmpuint(g_array_index(a, uint32_t, 2), ==, 0);
    /* advance of an idle entry arms it */
    g_assert_true(chimney_timer_advance(&t, &it[0].e, 5));
    g_assert_true(chimney_timer_pending(&it[0].e));
    chimney_timer_destroy(&t);
}

/* Equal deadlines expire in the order they were armed */
static void test_timer_equal(void)
{
    enum { N = 100 };
    ChimneyTimers t;
    g_autofree Item *it = g_new0(Item, N);
    g_autoptr(GArray) a = NULL;

    chimney_timer_init(&t);
    for (uint32_t i = 0; i < N; i++) {
        it[i].id = i;
        chimney_timer_set(&t, &it[i].e, i % 2 ? 7 : 3);
    }
    /* re-arming at the same deadline goes to the back of its group */
    chimney_timer_set(&t, &it[0].e, 3);
    a = expire_all(&t, 7);
    g_assert_cmpuint(a->len, ==, N);
    for (uint32_t i = 0; i < N / 2 - 1; i++) {
        g_assert_cmpuint(g_array_index(a, uint32_t, i), ==, 2 * i + 2);
    }
    g_assert_cmpuint(g_array_index(a, uint32_t, N / 2 - 1), ==, 0);
    for (uint32_t i = 0; i < N / 2; i++) {
        g_assert_cmpuint(g_array_index(a, uint32_t, N / 2 + i), ==,
                         2 * i + 1);
    }
    chimney_timer_destroy(&t);
}

/*
 * Many entries, armed, moved and cancelled at random: what expires is
 * exactly what is armed, in deadline order, against a plain array.
 */
static void test_timer_many(void)
{
    enum { N = 20000 };
    ChimneyTimers t;
    g_autofree Item *it = g_new0(Item, N);
    g_autofree int64_t *want = g_new(int64_t, N);
    GRand *r = g_rand_new_with_seed(16);
    uint32_t armed = 0, seen = 0;
    int64_t now = 0;

    chimney_timer_init(&t);
    for (uint32_t i = 0; i < N; i++) {
        it[i].id = i;
        want[i] = -1;
    }
    for (uint32_t round = 0; round < 20; round++) {
        ChimneyTimerEntry *e;

        for (uint32_t k = 0; k < N; k++) {
            uint32_t i = g_rand_int_range(r, 0, N);
            int64_t d = now + g_rand_int_range(r, 0, 100000);

            switch (g_rand_int_range(r, 0, 4)) {
            case 0:
                chimney_timer_cancel(&t, &it[i].e);
                armed -= want[i] >= 0;
                want[i] = -1;
                break;
            case 1:
                if (chimney_timer_advance(&t, &it[i].e, d)) {
                    armed += want[i] < 0;
                    want[i] = d;
                }
                break;
            default:
                armed += want[i] < 0;
                chimney_timer_set(&t, &it[i].e, d);
                want[i] = d;
                break;
            }
        }
        g_assert_cmpuint(t.count, ==, armed);
        now += 50000;
        while ((e = chimney_timer_expire(&t, now))) {
            Item *x = container_of(e, Item, e);

            g_assert_cmpint(want[x->id], ==, e->deadline);
            g_assert_cmpint(e->deadline, <=, now);
            want[x->id] = -1;
            armed--;
            seen++;
        }
        for (uint32_t i = 0; i < N; i++) {
            g_assert_true(want[i] < 0 || want[i] > now);
            g_assert_cmpint(chimney_timer_pending(&it[i].e), ==, want[i] >= 0);
        }
        g_assert(chimney_timer_next(&t) == -1 || chimney_timer_next(&t) > now);
    }
    g_assert_cmpuint(seen, >, N);
    g_rand_free(r);
    chimney_timer_destroy(&t);
}

/*
 * What expires may cancel or re-arm others (a connection freed while the
 * timer runs): the heap stays consistent.
 */
static void test_timer_cancel_in_expiry(void)
{
    ChimneyTimers t;
    Item it[5] = { { .id = 0 }, { .id = 1 }, { .id = 2 }, { .id = 3 },
                   { .id = 4 } };
    ChimneyTimerEntry *e;
    uint32_t order[5], n = 0;

    chimney_timer_init(&t);
    for (int i = 0; i < 5; i++) {
        chimney_timer_set(&t, &it[i].e, 10 * (i + 1));
    }
    while ((e = chimney_timer_expire(&t, 100))) {
        Item *x = container_of(e, Item, e);

        order[n++] = x->id;
        if (x->id == 0) {
            chimney_timer_cancel(&t, &it[1].e);     /* the next one */
            chimney_timer_cancel(&t, &it[0].e);     /* itself: not armed */
            chimney_timer_set(&t, &it[4].e, 15);    /* moved before 2 */
            chimney_timer_set(&t, &it[0].e, 200);   /* again, later */
        }
    }
    g_assert_cmpuint(n, ==, 4);
    g_assert_cmpuint(order[0], ==, 0);
    g_assert_cmpuint(order[1], ==, 4);
    g_assert_cmpuint(order[2], ==, 2);
    g_assert_cmpuint(order[3], ==, 3);
    g_assert_false(chimney_timer_pending(&it[1].e));
    g_assert_true(chimney_timer_pending(&it[0].e));
    g_assert_cmpint(chimney_timer_next(&t), ==, 200);
    chimney_timer_destroy(&t);
}

/* Clear (a device reset) leaves every entry idle and the heap usable */
static void test_timer_clear(void)
{
    ChimneyTimers t;
    Item it[40] = { 0 };

    chimney_timer_init(&t);
    for (int i = 0; i < 40; i++) {
        chimney_timer_set(&t, &it[i].e, 1000 - i);
    }
    chimney_timer_clear(&t);
    g_assert_cmpint(chimney_timer_next(&t), ==, -1);
    for (int i = 0; i < 40; i++) {
        g_assert_false(chimney_timer_pending(&it[i].e));
    }
    g_assert_null(chimney_timer_expire(&t, INT64_MAX));
    /* a cancel after the clear touches nothing */
    chimney_timer_cancel(&t, &it[3].e);
    chimney_timer_set(&t, &it[3].e, 5);
    g_assert_cmpint(chimney_timer_next(&t), ==, 5);
    g_assert_true(chimney_timer_expire(&t, 5) == &it[3].e);
    chimney_timer_destroy(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/chimney/timer/order", test_timer_order);
    g_test_add_func("/chimney/timer/move", test_timer_move);
    g_test_add_func("/chimney/timer/equal", test_timer_equal);
    g_test_add_func("/chimney/timer/many", test_timer_many);
    g_test_add_func("/chimney/timer/cancel-in-expiry",
                    test_timer_cancel_in_expiry);
    g_test_add_func("/chimney/timer/clear", test_timer_clear);
    return g_test_run();
}
