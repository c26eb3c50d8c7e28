import { FormEvent, useState } from 'react';
import { api } from '../api';
import { useI18n } from '../i18n';
import { ErrorMessage } from '../ui';
import { useLoad } from '../pages/Learner';

interface ApiKey {
  api_key_id: string;
  name: string;
  prefix: string;
  scopes: string[];
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

const SCOPES = ['assets:read', 'assets:write', 'playback:create', 'courses:read', 'courses:write', 'webhooks:read', 'webhooks:write'];

// API keys for an instructor's applications: created with chosen scopes, the secret shown once,
// revoked at any time.
export default function ApiKeys() {
  const { t } = useI18n();
  const keys = useLoad(() => api<{ api_keys: ApiKey[] }>('GET', 'v1/api-keys'), []);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['assets:read', 'playback:create']);
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const create = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const created = await api<{ secret: string }>('POST', 'v1/api-keys', { name, scopes });
      setSecret(created.secret);
      setName('');
      keys.reload();
    } catch (caught) {
      setError(caught);
    }
  };
  const revoke = (key: ApiKey) => {
    if (!window.confirm(t('keys.confirmRevoke', { name: key.name }))) return;
    api('DELETE', `v1/api-keys/${key.api_key_id}`).then(keys.reload, setError);
  };
  const toggle = (scope: string) => setScopes((current) => (current.includes(scope) ? current.filter((s) => s !== scope) : [...current, scope]));
  return (
    <section>
      <h1>{t('keys.title')}</h1>
      <p>{t('keys.intro')}</p>
      {secret && (
        <div className="card secret" role="status">
          <p>
            <strong>{t('keys.shownOnce')}</strong>
          </p>
          <label className="field">
            <span>{t('keys.secret')}</span>
            <input readOnly value={secret} onFocus={(event) => event.target.select()} data-testid="api-key-secret" />
          </label>
          <button type="button" className="secondary" onClick={() => navigator.clipboard?.writeText(secret)}>
            {t('keys.copy')}
          </button>
        </div>
      )}
      <ErrorMessage error={keys.error ?? error} />
      <div className="table-wrap">
<table className="table">
        <caption className="visually-hidden">{t('keys.title')}</caption>
        <thead>
          <tr>
            <th scope="col">{t('keys.name')}</th>
            <th scope="col">{t('keys.prefix')}</th>
            <th scope="col">{t('keys.scopes')}</th>
            <th scope="col">{t('keys.lastUsed')}</th>
            <th scope="col">
              <span className="visually-hidden">{t('keys.revoke')}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {keys.data?.api_keys.map((key) => (
            <tr key={key.api_key_id} data-testid="api-key">
              <td>{key.name}</td>
              <td>
                <code>{key.prefix}…</code>
              </td>
              <td>{key.scopes.join(', ')}</td>
              <td>{key.revoked_at ? t('keys.revoked') : key.last_used_at ? new Date(key.last_used_at).toLocaleString() : '—'}</td>
              <td>
                {!key.revoked_at && (
                  <button type="button" className="danger" aria-label={`${t('keys.revoke')}: ${key.name}`} onClick={() => revoke(key)}>
                    {t('keys.revoke')}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
</div>
      <form onSubmit={create} className="card form" aria-labelledby="new-key">
        <h2 id="new-key">{t('keys.new')}</h2>
        <label className="field">
          <span>{t('keys.name')}</span>
          <input value={name} onChange={(event) => setName(event.target.value)} required />
        </label>
        <fieldset className="scopes">
          <legend>{t('keys.scopes')}</legend>
          {SCOPES.map((scope) => (
            <label key={scope} className="check">
              <input type="checkbox" checked={scopes.includes(scope)} onChange={() => toggle(scope)} />
              <code>{scope}</code>
            </label>
          ))}
        </fieldset>
        <button type="submit">{t('keys.create')}</button>
      </form>
    </section>
  );
}
