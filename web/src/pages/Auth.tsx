import { FormEvent, useEffect, useState } from 'react';
import { api, completeSetup, signIn, signUp, storeTokens } from '../api';
import { useI18n } from '../i18n';
import { currentPath, navigate, query } from '../router';
import { ErrorMessage, Link } from '../ui';

function Field({
  label,
  type = 'text',
  value,
  onChange,
  autoComplete,
}: {
  label: string;
  type?: string;
  value: string;
  onChange: (value: string) => void;
  autoComplete?: string;
}) {
  return (
    <label className="field">
      <span>{label}</span>
      <input type={type} value={value} required autoComplete={autoComplete} onChange={(event) => onChange(event.target.value)} />
    </label>
  );
}

export function Setup({ needed }: { needed: boolean }) {
  const { t } = useI18n();
  const [token, setToken] = useState(query('token') ?? '');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  if (!needed) {
    return (
      <section className="narrow">
        <h1>{t('setup.title')}</h1>
        <p>{t('setup.done')}</p>
        <Link to="/sign-in">{t('nav.signIn')}</Link>
      </section>
    );
  }
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await completeSetup(token, email, password);
      window.location.replace(window.location.pathname.replace(/setup\/?$/, 'studio'));
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };
  return (
    <section className="narrow">
      <h1>{t('setup.title')}</h1>
      <p>{t('setup.intro')}</p>
      <form onSubmit={submit} className="card form">
        <Field label={t('setup.token')} value={token} onChange={setToken} autoComplete="off" />
        <Field label={t('common.email')} type="email" value={email} onChange={setEmail} autoComplete="username" />
        <Field label={t('common.password')} type="password" value={password} onChange={setPassword} autoComplete="new-password" />
        <ErrorMessage error={error} />
        <button type="submit" disabled={busy}>
          {t('setup.submit')}
        </button>
      </form>
    </section>
  );
}

interface Provider {
  id: string;
  name: string;
  start_url: string;
}

export function SignIn() {
  const { t } = useI18n();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [providers, setProviders] = useState<Provider[]>([]);
  useEffect(() => {
    api<{ providers: Provider[] }>('GET', 'v1/auth/oauth/providers')
      .then((list) => setProviders(list.providers))
      .catch(() => setProviders([]));
    // Back from an external provider: trade the one-time login code for tokens.
    const code = query('login_code');
    if (code) {
      api<Parameters<typeof storeTokens>[0]>('POST', 'v1/auth/oauth/token', { login_code: code })
        .then((tokens) => {
          storeTokens(tokens);
          navigate('/', true);
        })
        .catch(setError);
    } else if (query('error')) {
      setError(new Error(query('error') ?? ''));
    }
  }, []);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      await signIn(email, password);
      if (currentPath() === '/sign-in') navigate('/', true);
    } catch (caught) {
      setError(caught);
    }
  };
  const returnTo = new URL('sign-in', document.baseURI).href;
  return (
    <section className="narrow">
      <h1>{t('signIn.title')}</h1>
      <form onSubmit={submit} className="card form">
        <Field label={t('common.email')} type="email" value={email} onChange={setEmail} autoComplete="username" />
        <Field label={t('common.password')} type="password" value={password} onChange={setPassword} autoComplete="current-password" />
        <ErrorMessage error={error} />
        <button type="submit">{t('signIn.submit')}</button>
      </form>
      {providers.length > 0 && (
        <div className="providers">
          <p>{t('signIn.providers')}</p>
          <ul>
            {providers.map((provider) => (
              <li key={provider.id}>
                <a className="button secondary" href={`${provider.start_url}?return_to=${encodeURIComponent(returnTo)}`}>
                  {provider.name}
                </a>
              </li>
            ))}
          </ul>
        </div>
      )}
      <p>
        {t('signIn.noAccount')} <Link to="/sign-up">{t('nav.signUp')}</Link>
      </p>
    </section>
  );
}

export function SignUp() {
  const { t } = useI18n();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      await signUp(email, password);
      navigate('/', true);
    } catch (caught) {
      setError(caught);
    }
  };
  return (
    <section className="narrow">
      <h1>{t('signUp.title')}</h1>
      <form onSubmit={submit} className="card form">
        <Field label={t('common.email')} type="email" value={email} onChange={setEmail} autoComplete="username" />
        <Field label={t('common.password')} type="password" value={password} onChange={setPassword} autoComplete="new-password" />
        <ErrorMessage error={error} />
        <button type="submit">{t('signUp.submit')}</button>
      </form>
      <p>
        {t('signUp.haveAccount')} <Link to="/sign-in">{t('nav.signIn')}</Link>
      </p>
    </section>
  );
}
