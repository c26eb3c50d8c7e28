-- Payments, second part: the seller's refund policy, archived coupons, the marks the
-- reconciliation job leaves, and three more webhook events out. All SQL of these tables and
-- columns lives in `src/payments/`.

-- ---------------------------------------------------------------------------------------------
-- A seller's rules for refunds. One row per seller, made on the first PUT; without a row (or
-- with a null column) the server's defaults apply.
create table seller_payment_policy
(
    owner_id                   uuid primary key references account (account_id) on delete cascade,
    -- Whether a partial refund ends the order's access; null: LECTERN_PAYMENTS_PARTIAL_REFUND_REVOKES.
    partial_refund_revokes     boolean,
    -- "A full refund within `refund_window_days` of payment if less than
    -- `refund_max_watched_percent` % of the course was watched." Both or neither: without them
    -- the refund quote offers nothing automatically (an administrator may still refund).
    refund_window_days         integer check (refund_window_days between 1 and 365),
    refund_max_watched_percent integer check (refund_max_watched_percent between 0 and 100),
    created_at                 timestamptz not null default now(),
    updated_at                 timestamptz not null default now(),
    check ((refund_window_days is null) = (refund_max_watched_percent is null))
);

select trigger_updated_at('seller_payment_policy');

-- ---------------------------------------------------------------------------------------------
-- A coupon can be archived (no more redemptions) without deleting the orders that name it.
alter table coupon add column active boolean not null default true;

-- ---------------------------------------------------------------------------------------------
-- Reconciliation: when the provider was last asked about a pending order or a subscription past
-- its period end, so one stuck object does not take every run's whole batch.
alter table payment_order add column provider_checked_at timestamptz;
alter table subscription add column provider_checked_at timestamptz;

-- YooKassa has no subscription object: Lectern charges the payment method saved by the first
-- payment (`save_payment_method`) at each period end. Its id (never card data) is kept here.
alter table subscription add column provider_payment_method_id text;

create index subscription_period_end on subscription (current_period_end)
    where status in ('active', 'trialing', 'past_due');

-- ---------------------------------------------------------------------------------------------
-- Webhook events out: `entitlement.granted`, `entitlement.revoked` and `subscription.updated`
-- join `order.paid` and `order.refunded` (the outbox's type check allows them already).
alter table webhook_endpoint drop constraint webhook_endpoint_events_check;
alter table webhook_endpoint add constraint webhook_endpoint_events_check
    check (events <@ array ['asset.created', 'asset.uploaded', 'asset.playable', 'asset.ready',
                            'asset.errored', 'asset.deleted',
                            'enrollment.created', 'enrollment.suspended', 'enrollment.revoked',
                            'lesson.completed', 'enrollment.completed', 'certificate.issued',
                            'order.paid', 'order.refunded',
                            'entitlement.granted', 'entitlement.revoked', 'subscription.updated']::text[]);
