import { Suspense, lazy, useCallback, useEffect, useMemo, useState } from 'react';
import { Account, api, hasSession, isInstructor, onAuthChange, signOut } from './api';
import { I18n, Lang, initialLang, rememberLang, translator, useI18n } from './i18n';
import { Link } from './ui';
import { navigate, usePath } from './router';
import { Setup, SignIn, SignUp } from './pages/Auth';
import { Catalogue, CoursePage, MyLearning } from './pages/Learner';

// The player (with hls.js) and the studio (with Uppy) are separate chunks: a learner's first
// page loads neither.
const LessonPlayer = lazy(() => import('./pages/LessonPlayer'));
const Library = lazy(() => import('./studio/Library'));
const Courses = lazy(() => import('./studio/Courses'));
const CourseEditor = lazy(() => import('./studio/CourseEditor'));
const ApiKeys = lazy(() => import('./studio/ApiKeys'));
const Webhooks = lazy(() => import('./studio/Webhooks'));

export function App() {
  const [lang, setLangState] = useState<Lang>(initialLang());
  const i18n = useMemo(
    () => ({
      lang,
      t: translator(lang),
      setLang: (next: Lang) => {
        rememberLang(next);
        setLangState(next);
      },
    }),
    [lang],
  );
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  return (
    <I18n.Provider value={i18n}>
      <Shell />
    </I18n.Provider>
  );
}

function useAccount() {
  const [account, setAccount] = useState<Account | null>(null);
  const [loaded, setLoaded] = useState(false);
  const load = useCallback(async () => {
    if (!hasSession()) {
      setAccount(null);
      setLoaded(true);
      return;
    }
    try {
      setAccount(await api<Account>('GET', 'v1/me'));
    } catch {
      setAccount(null);
    }
    setLoaded(true);
  }, []);
  useEffect(() => {
    load();
    return onAuthChange(load);
  }, [load]);
  return { account, loaded };
}

function Shell() {
  const { t, lang, setLang } = useI18n();
  const path = usePath();
  const { account, loaded } = useAccount();
  const [setupNeeded, setSetupNeeded] = useState<boolean | null>(null);

  useEffect(() => {
    api<{ needed: boolean }>('GET', 'v1/setup')
      .then((status) => setSetupNeeded(status.needed))
      .catch(() => setSetupNeeded(false));
  }, [account]);

  // First run: nothing else makes sense before the administrator exists.
  useEffect(() => {
    if (setupNeeded && !path.startsWith('/setup')) navigate('/setup' + window.location.search, true);
  }, [setupNeeded, path]);

  useEffect(() => {
    const main = document.getElementById('main');
    main?.focus({ preventScroll: true });
  }, [path]);

  const instructor = isInstructor(account);
  return (
    <>
      <a className="skip" href="#main">
        {t('nav.skip')}
      </a>
      <header className="top">
        <Link to="/" className="brand">
          {t('app.name')}
        </Link>
        <nav aria-label={t('nav.main')}>
          <ul>
            {account && (
              <>
                <li>
                  <Link to="/" current={path === '/' || path.startsWith('/courses')}>
                    {t('nav.catalogue')}
                  </Link>
                </li>
                <li>
                  <Link to="/my" current={path.startsWith('/my') || path.startsWith('/learn')}>
                    {t('nav.myLearning')}
                  </Link>
                </li>
              </>
            )}
            {instructor && (
              <>
                <li>
                  <Link to="/studio" current={path === '/studio'}>
                    {t('nav.library')}
                  </Link>
                </li>
                <li>
                  <Link to="/studio/courses" current={path.startsWith('/studio/courses')}>
                    {t('nav.courses')}
                  </Link>
                </li>
                <li>
                  <Link to="/settings/api-keys" current={path.startsWith('/settings/api-keys')}>
                    {t('nav.apiKeys')}
                  </Link>
                </li>
                <li>
                  <Link to="/settings/webhooks" current={path.startsWith('/settings/webhooks')}>
                    {t('nav.webhooks')}
                  </Link>
                </li>
              </>
            )}
          </ul>
        </nav>
        <div className="top-right">
          <label className="lang">
            <span className="visually-hidden">{t('lang.label')}</span>
            <select value={lang} onChange={(event) => setLang(event.target.value as Lang)}>
              <option value="en" lang="en">
                English
              </option>
              <option value="ru" lang="ru">
                Русский
              </option>
            </select>
          </label>
          {account ? (
            <>
              <span className="who">{account.email}</span>
              <button type="button" className="link-button" onClick={() => signOut().then(() => navigate('/sign-in'))}>
                {t('nav.signOut')}
              </button>
            </>
          ) : (
            <Link to="/sign-in">{t('nav.signIn')}</Link>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {loaded && setupNeeded !== null ? (
          <Suspense fallback={<p role="status">{t('common.loading')}</p>}>
            <Page path={path} account={account} setupNeeded={setupNeeded} />
          </Suspense>
        ) : (
          <p role="status">{t('common.loading')}</p>
        )}
      </main>
    </>
  );
}

function Page({ path, account, setupNeeded }: { path: string; account: Account | null; setupNeeded: boolean }) {
  const parts = path.split('/').filter(Boolean);
  if (parts[0] === 'setup') return <Setup needed={setupNeeded} />;
  if (parts[0] === 'sign-up') return <SignUp />;
  if (!account || parts[0] === 'sign-in') return <SignIn />;
  switch (parts[0]) {
    case undefined:
      return <Catalogue />;
    case 'courses':
      return parts[1] ? <CoursePage courseId={parts[1]} /> : <Catalogue />;
    case 'learn':
      return <LessonPlayer courseId={parts[1]} lessonId={parts[2]} />;
    case 'my':
      return <MyLearning />;
    case 'settings':
      if (!isInstructor(account)) return <Catalogue />;
      return parts[1] === 'webhooks' ? <Webhooks /> : <ApiKeys />;
    case 'studio':
      if (!isInstructor(account)) return <Catalogue />;
      if (parts[1] === 'courses') return parts[2] ? <CourseEditor courseId={parts[2]} /> : <Courses />;
      return <Library />;
    default:
      return <Catalogue />;
  }
}
