-- Payments: a catalogue (products, prices, coupons), a ledger (orders, subscriptions), the inbox
-- of provider events, and entitlements — the one source of access that enrolments follow.
-- All SQL of these tables lives in `src/payments/`.
--
-- Exactly-once is made by the database, not by the handlers' good behaviour:
--   * a provider event is inserted into `payment_event` keyed by (provider, event id); a
--     redelivery finds the row and does nothing more when it was processed;
--   * an order moves between states only through `update … where status = <expected>`, so two
--     racing fulfilments (the webhook and the buyer's return) see one winner;
--   * an entitlement is unique per (source, source id, course), so even a second grant attempt
--     inserts nothing.

-- ---------------------------------------------------------------------------------------------
-- Catalogue.
create table product
(
    product_id  uuid primary key     default gen_random_uuid(),
    -- The seller: the courses of a product must be theirs (an administrator may sell any).
    owner_id    uuid        not null references account (account_id) on delete cascade,
    -- course: one course; bundle: several courses sold together; plan: a subscription that opens
    -- its courses while it lasts.
    kind        text        not null check (kind in ('course', 'bundle', 'plan')),
    title       text        not null check (length(title) between 1 and 200),
    active      boolean     not null default true,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);

select trigger_updated_at('product');

create table product_course
(
    product_id uuid not null references product (product_id) on delete cascade,
    course_id  uuid not null references course (course_id) on delete cascade,
    primary key (product_id, course_id)
);

create index product_course_course on product_course (course_id);

create table price
(
    price_id    uuid primary key     default gen_random_uuid(),
    product_id  uuid        not null references product (product_id) on delete cascade,
    -- ISO 4217, lower case as Stripe writes it (`usd`, `rub`).
    currency    text        not null check (currency ~ '^[a-z]{3}$'),
    -- Minor units (cents, kopecks). 0 is a free price: granted at once, no provider call.
    unit_amount bigint      not null check (unit_amount >= 0 and unit_amount <= 99999999),
    kind        text        not null check (kind in ('one_time', 'recurring')),
    recurring_interval text check (recurring_interval in ('month', 'year')),
    -- A one-time purchase opens its courses for this many days; null: for good.
    access_days integer check (access_days between 1 and 36500),
    active      boolean     not null default true,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    check ((kind = 'recurring') = (recurring_interval is not null)),
    check (kind = 'one_time' or access_days is null)
);

select trigger_updated_at('price');

create index price_product on price (product_id);

create table coupon
(
    coupon_id       uuid primary key     default gen_random_uuid(),
    owner_id        uuid        not null references account (account_id) on delete cascade,
    -- What buyers type, compared case-insensitively (stored upper case).
    code            text        not null unique check (code ~ '^[A-Z0-9_-]{3,40}$'),
    percent_off     integer check (percent_off between 1 and 100),
    amount_off      bigint check (amount_off > 0),
    currency        text check (currency ~ '^[a-z]{3}$'),
    max_redemptions integer check (max_redemptions > 0),
    redemptions     integer     not null default 0 check (redemptions >= 0),
    expires_at      timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    check ((percent_off is null) <> (amount_off is null)),
    check ((amount_off is null) = (currency is null)),
    check (max_redemptions is null or redemptions <= max_redemptions)
);

select trigger_updated_at('coupon');

-- ---------------------------------------------------------------------------------------------
-- Orders: created → pending → paid → partially_refunded → refunded; paid → disputed → paid |
-- charged_back; created|pending → canceled | expired | failed. The `order` keyword is avoided.
create table payment_order
(
    order_id             uuid primary key     default gen_random_uuid(),
    account_id           uuid        not null references account (account_id) on delete cascade,
    price_id             uuid        not null references price (price_id),
    coupon_id            uuid references coupon (coupon_id),
    -- What the buyer pays after the coupon, in the price's currency.
    amount               bigint      not null check (amount >= 0),
    currency             text        not null check (currency ~ '^[a-z]{3}$'),
    status               text        not null default 'created'
        check (status in ('created', 'pending', 'paid', 'partially_refunded', 'refunded', 'disputed',
                          'charged_back', 'canceled', 'expired', 'failed')),
    -- none: free or a 100 % coupon, granted without a provider.
    provider             text        not null check (provider in ('none', 'stripe', 'yookassa')),
    -- The provider's checkout (Stripe Checkout Session id, YooKassa payment id), once created.
    provider_checkout_id text,
    -- The provider's payment (Stripe PaymentIntent id, YooKassa payment id) that refunds and
    -- disputes name.
    provider_payment_id  text,
    refunded_amount      bigint      not null default 0 check (refunded_amount >= 0),
    paid_at              timestamptz,
    -- Set when a refund or chargeback arrived before the order was known paid: the payment
    -- that completes later must not grant.
    reversed_early       boolean     not null default false,
    created_at           timestamptz not null default now(),
    updated_at           timestamptz not null default now(),
    check (refunded_amount <= amount)
);

select trigger_updated_at('payment_order');

create index payment_order_account on payment_order (account_id, created_at);
create unique index payment_order_checkout on payment_order (provider, provider_checkout_id)
    where provider_checkout_id is not null;
create index payment_order_payment on payment_order (provider, provider_payment_id)
    where provider_payment_id is not null;
create index payment_order_pending on payment_order (updated_at) where status in ('created', 'pending');

-- A provider's subscription (a plan bought with a recurring price).
create table subscription
(
    subscription_id          uuid primary key     default gen_random_uuid(),
    account_id               uuid        not null references account (account_id) on delete cascade,
    price_id                 uuid        not null references price (price_id),
    -- The order whose checkout created it.
    order_id                 uuid references payment_order (order_id),
    provider                 text        not null check (provider in ('stripe', 'yookassa')),
    provider_subscription_id text        not null,
    -- Stripe's statuses, kept as the provider says them.
    status                   text        not null
        check (status in ('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'unpaid',
                          'canceled', 'paused')),
    current_period_end       timestamptz,
    cancel_at_period_end     boolean     not null default false,
    -- When it became past due: access lasts the grace period from here.
    past_due_since           timestamptz,
    created_at               timestamptz not null default now(),
    updated_at               timestamptz not null default now(),
    unique (provider, provider_subscription_id)
);

select trigger_updated_at('subscription');

-- ---------------------------------------------------------------------------------------------
-- The inbox: every provider event, once. A row with `processed_at` null after its handler ran
-- means the process died in between; the provider's retry (or the reconciliation) handles it
-- again, and handling is idempotent.
create table payment_event
(
    provider     text        not null check (provider in ('stripe', 'yookassa')),
    event_id     text        not null check (length(event_id) between 1 and 255),
    event_type   text        not null,
    payload      jsonb       not null,
    received_at  timestamptz not null default now(),
    processed_at timestamptz,
    attempts     integer     not null default 0,
    last_error   text,
    primary key (provider, event_id)
);

-- ---------------------------------------------------------------------------------------------
-- Entitlements: a learner may watch a course while any of their entitlements to it is active
-- (and not past `ends_at`). The enrolment follows: active while one is, suspended (progress
-- kept) when the last one ends.
create table entitlement
(
    entitlement_id uuid primary key     default gen_random_uuid(),
    account_id     uuid        not null references account (account_id) on delete cascade,
    course_id      uuid        not null references course (course_id) on delete cascade,
    source         text        not null check (source in ('order', 'subscription', 'coupon', 'admin', 'free', 'lti')),
    -- The order, subscription, coupon… that granted it.
    source_id      uuid        not null,
    -- active; suspended (a dispute, a past-due subscription after its grace): may come back;
    -- revoked (refund, chargeback) and expired: final.
    status         text        not null default 'active' check (status in ('active', 'suspended', 'revoked', 'expired')),
    status_reason  text check (length(status_reason) <= 200),
    starts_at      timestamptz not null default now(),
    ends_at        timestamptz,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    unique (source, source_id, course_id)
);

select trigger_updated_at('entitlement');

create index entitlement_holder on entitlement (account_id, course_id) where status = 'active';
create index entitlement_ending on entitlement (ends_at) where status = 'active' and ends_at is not null;

-- ---------------------------------------------------------------------------------------------
-- Webhook events out: `order.paid` and `order.refunded`, recorded for the seller in the
-- transaction of the change, and deliverable to endpoints that ask for them.
alter table asset_event drop constraint asset_event_type_check;
alter table asset_event
    add constraint asset_event_type_check
        check (type ~ '^(asset|enrollment|lesson|certificate|order|entitlement|subscription)\.[a-z_]+$');

alter table webhook_endpoint drop constraint webhook_endpoint_events_check;
alter table webhook_endpoint add constraint webhook_endpoint_events_check
    check (events <@ array ['asset.created', 'asset.uploaded', 'asset.playable', 'asset.ready',
                            'asset.errored', 'asset.deleted',
                            'enrollment.created', 'enrollment.suspended', 'enrollment.revoked',
                            'lesson.completed', 'enrollment.completed', 'certificate.issued',
                            'order.paid', 'order.refunded']::text[]);
