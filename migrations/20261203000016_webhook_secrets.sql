-- Webhook signing secrets at rest (issue 18): sealed with the webhook key of the key directory
-- (AES-256-GCM, the endpoint's id as associated data), never in clear; and a rotation with an
-- overlap, during which the previous secret signs every send beside the new one.
--
-- SQL cannot seal (the key is a file the database never sees), so rows made before this
-- migration keep their secret in clear in `secret` until `lectern serve` or `lectern worker`
-- starts, seals it and clears the column (webhooks::endpoints::reseal_all); they sign as they
-- are meanwhile. New rows never write `secret`.
alter table webhook_endpoint
    alter column secret drop not null,
    -- The id of the webhook key that sealed `secret_sealed` (`whk-…`, derived from the key), so a
    -- row sealed before a key rotation still finds its key among the previous ones.
    add column secret_key_id text,
    -- nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes).
    add column secret_sealed bytea,
    -- The secret before the last rotation, sealed the same way; it signs beside the current one
    -- until `previous_secret_expires_at`.
    add column previous_secret_key_id text,
    add column previous_secret_sealed bytea,
    add column previous_secret_expires_at timestamptz,
    add constraint webhook_endpoint_secret_present
        check (secret is not null or secret_sealed is not null),
    add constraint webhook_endpoint_secret_sealed_with_key
        check ((secret_key_id is null) = (secret_sealed is null)),
    add constraint webhook_endpoint_previous_secret_whole
        check ((previous_secret_key_id is null) = (previous_secret_sealed is null)
            and (previous_secret_sealed is null) = (previous_secret_expires_at is null));
