import { FormEvent, useEffect, useState } from 'react';
import { api } from '../api';
import { useI18n } from '../i18n';
import { ErrorMessage } from '../ui';
import { useLoad } from '../pages/Learner';

interface Webhook {
  id: string;
  url: string;
  events: string[];
  description: string | null;
}
interface Attempt {
  number: number;
  status_code: number | null;
  error: string | null;
  manual: boolean;
}
interface Delivery {
  id: string;
  event_type: string;
  state: string;
  created_at: string;
  attempts: Attempt[];
}

// Webhook endpoints (the signing secret shown once), each with its recent deliveries, their
// attempts, and a button that sends a delivery again.
export default function Webhooks() {
  const { t } = useI18n();
  const hooks = useLoad(() => api<{ webhooks: Webhook[] }>('GET', 'v1/webhooks'), []);
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState('');
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const create = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const list = events
        .split(/[\s,]+/)
        .map((name) => name.trim())
        .filter(Boolean);
      const created = await api<{ secret: string }>('POST', 'v1/webhooks', { url, events: list.length ? list : undefined });
      setSecret(created.secret);
      setUrl('');
      setEvents('');
      hooks.reload();
    } catch (caught) {
      setError(caught);
    }
  };
  return (
    <section>
      <h1>{t('hooks.title')}</h1>
      {secret && (
        <div className="card secret" role="status">
          <p>
            <strong>{t('hooks.shownOnce')}</strong>
          </p>
          <label className="field">
            <span>{t('hooks.secret')}</span>
            <input readOnly value={secret} onFocus={(event) => event.target.select()} data-testid="webhook-secret" />
          </label>
        </div>
      )}
      <ErrorMessage error={hooks.error ?? error} />
      <ul className="assets">
        {hooks.data?.webhooks.map((hook) => (
          <WebhookRow key={hook.id} hook={hook} onDeleted={hooks.reload} />
        ))}
      </ul>
      <form onSubmit={create} className="card form" aria-labelledby="new-hook">
        <h2 id="new-hook">{t('hooks.new')}</h2>
        <label className="field">
          <span>{t('hooks.url')}</span>
          <input type="url" value={url} onChange={(event) => setUrl(event.target.value)} required placeholder="https://" />
        </label>
        <label className="field">
          <span>{t('hooks.events')}</span>
          <input value={events} onChange={(event) => setEvents(event.target.value)} placeholder="asset.ready, enrollment.created" />
        </label>
        <button type="submit">{t('hooks.create')}</button>
      </form>
    </section>
  );
}

function WebhookRow({ hook, onDeleted }: { hook: Webhook; onDeleted: () => void }) {
  const { t } = useI18n();
  const deliveries = useLoad(() => api<{ deliveries: Delivery[] }>('GET', `v1/webhooks/${hook.id}/deliveries?limit=20`), [hook.id]);
  const [error, setError] = useState<unknown>(null);
  // Sends happen in the job workers: follow the pending ones until they settle.
  const pending = deliveries.data?.deliveries.some((delivery) => delivery.state === 'pending') ?? false;
  const reload = deliveries.reload;
  useEffect(() => {
    if (!pending) return;
    const timer = window.setInterval(reload, 2000);
    return () => window.clearInterval(timer);
  }, [pending, reload]);
  const retry = (delivery: Delivery) => api('POST', `v1/webhooks/deliveries/${delivery.id}/retry`).then(deliveries.reload, setError);
  const remove = () => window.confirm(t('hooks.confirmDelete', { url: hook.url })) && api('DELETE', `v1/webhooks/${hook.id}`).then(onDeleted, setError);
  return (
    <li className="card" data-testid="webhook">
      <div className="row">
        <h2>
          <code>{hook.url}</code>
        </h2>
        <button type="button" className="danger" aria-label={`${t('common.delete')}: ${hook.url}`} onClick={remove}>
          {t('common.delete')}
        </button>
      </div>
      <p className="meta">{hook.events.length ? hook.events.join(', ') : t('hooks.allEvents')}</p>
      <ErrorMessage error={deliveries.error ?? error} />
      {deliveries.data && deliveries.data.deliveries.length === 0 && <p className="meta">{t('hooks.noDeliveries')}</p>}
      {deliveries.data && deliveries.data.deliveries.length > 0 && (
        <div className="table-wrap">
<table className="table">
          <caption className="visually-hidden">{t('hooks.deliveries')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('hooks.event')}</th>
              <th scope="col">{t('hooks.state')}</th>
              <th scope="col">{t('hooks.lastAttempt')}</th>
              <th scope="col">
                <span className="visually-hidden">{t('hooks.retry')}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {deliveries.data.deliveries.map((delivery) => {
              const last = delivery.attempts[delivery.attempts.length - 1];
              return (
                <tr key={delivery.id}>
                  <td>{delivery.event_type}</td>
                  <td>{delivery.state}</td>
                  <td>{last ? (last.status_code ? `HTTP ${last.status_code}` : last.error ?? '—') : '—'}</td>
                  <td>
                    {delivery.state !== 'pending' && (
                      <button type="button" className="secondary" aria-label={`${t('hooks.retry')}: ${delivery.event_type}`} onClick={() => retry(delivery)}>
                        {t('hooks.retry')}
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
</div>
      )}
    </li>
  );
}
