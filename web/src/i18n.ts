// English and Russian. The language comes from the browser (navigator.languages) until the
// person picks one with the switch; the choice is kept in localStorage (it is not a secret).
import { createContext, useContext } from 'react';

const en = {
  'app.name': 'Lectern',
  'nav.catalogue': 'Catalogue',
  'nav.myLearning': 'My learning',
  'nav.library': 'Media library',
  'nav.courses': 'Courses',
  'nav.signIn': 'Sign in',
  'nav.signUp': 'Create account',
  'nav.signOut': 'Sign out',
  'nav.main': 'Main',
  'nav.skip': 'Skip to content',
  'lang.label': 'Language',
  'common.loading': 'Loading…',
  'common.save': 'Save',
  'common.cancel': 'Cancel',
  'common.delete': 'Delete',
  'common.error': 'Something went wrong: {message}',
  'common.email': 'Email',
  'common.password': 'Password',
  'common.title': 'Title',
  'setup.title': 'Welcome to Lectern',
  'setup.intro': 'This install has no administrator yet. Create one with the setup token that "lectern serve" printed in its log.',
  'setup.token': 'Setup token',
  'setup.submit': 'Create administrator',
  'setup.done': 'An administrator already exists.',
  'signIn.title': 'Sign in',
  'signIn.submit': 'Sign in',
  'signIn.noAccount': 'No account yet?',
  'signIn.providers': 'Or sign in with',
  'signUp.title': 'Create your account',
  'signUp.submit': 'Create account',
  'signUp.haveAccount': 'Already have an account?',
  'catalogue.title': 'Catalogue',
  'catalogue.empty': 'No course is published yet.',
  'catalogue.free': 'Free',
  'catalogue.signInFirst': 'Sign in to see the catalogue.',
  'course.enrol': 'Enrol for free',
  'course.continue': 'Continue where I left off',
  'course.start': 'Start the course',
  'course.enrolled': 'You are enrolled.',
  'course.paidOnly': 'This course is not free; enrolment is by your instructor.',
  'course.outline': 'Course outline',
  'course.progress': '{done} of {total} lessons completed',
  'lesson.completed': 'Completed',
  'lesson.watched': '{percent}% watched',
  'lesson.notVideo': 'This lesson is not a video.',
  'lesson.markDone': 'Mark as done',
  'lesson.resumeAt': 'Resuming at {time}',
  'my.title': 'My learning',
  'my.empty': 'You are not enrolled in any course yet.',
  'my.next': 'Next: continue',
  'library.title': 'Media library',
  'library.drop': 'Drop video files here, or',
  'library.pick': 'choose files',
  'library.uploads': 'Uploads',
  'library.pause': 'Pause',
  'library.resume': 'Resume',
  'library.speed': '{speed}/s, {left} left',
  'library.uploaded': 'Uploaded',
  'library.empty': 'No video yet. Drop one above.',
  'library.preview': 'Preview',
  'library.reprocess': 'Reprocess',
  'library.rename': 'Rename',
  'library.confirmDelete': 'Delete “{title}” and all its files?',
  'library.progress': 'processing {percent}%',
  'library.eta': 'about {left} left',
  'status.waiting_upload': 'Waiting for upload',
  'status.uploaded': 'Uploaded',
  'status.probing': 'Probing',
  'status.processing': 'Processing',
  'status.ready': 'Ready',
  'status.errored': 'Error',
  'status.playable': 'Playable',
  'courses.title': 'Courses',
  'courses.new': 'New course',
  'courses.free': 'Free course (learners may enrol themselves)',
  'courses.create': 'Create course',
  'courses.empty': 'No course yet.',
  'courses.draft': 'Draft',
  'courses.published': 'Published',
  'courses.archived': 'Archived',
  'editor.addSection': 'Add section',
  'editor.sectionTitle': 'Section title',
  'editor.addLesson': 'Add lesson from the library',
  'editor.lessonTitle': 'Lesson title',
  'editor.video': 'Video',
  'editor.up': 'Move up',
  'editor.down': 'Move down',
  'editor.publish': 'Publish',
  'editor.published': 'Published — learners can find it in the catalogue.',
  'editor.back': 'All courses',
  'player.title': 'Lesson player',
  'nav.apiKeys': 'API keys',
  'nav.webhooks': 'Webhooks',
  'hooks.title': 'Webhooks',
  'hooks.shownOnce': 'Copy the signing secret now: it is shown only once. Verify every delivery with it.',
  'hooks.secret': 'Signing secret',
  'hooks.new': 'New webhook',
  'hooks.url': 'Receiver URL',
  'hooks.events': 'Events (empty: all)',
  'hooks.create': 'Add webhook',
  'hooks.allEvents': 'All events',
  'hooks.noDeliveries': 'No delivery yet.',
  'hooks.deliveries': 'Recent deliveries',
  'hooks.event': 'Event',
  'hooks.state': 'State',
  'hooks.lastAttempt': 'Last attempt',
  'hooks.retry': 'Send again',
  'hooks.confirmDelete': 'Delete the webhook to {url}?',
  'keys.title': 'API keys',
  'keys.intro': 'Keys let your own applications call Lectern as you, limited to the scopes you choose. Send one as "Authorization: Bearer lk_…".',
  'keys.shownOnce': 'Copy this key now: it is shown only once.',
  'keys.secret': 'New key',
  'keys.copy': 'Copy',
  'keys.name': 'Name',
  'keys.prefix': 'Key',
  'keys.scopes': 'Scopes',
  'keys.lastUsed': 'Last used',
  'keys.revoke': 'Revoke',
  'keys.revoked': 'Revoked',
  'keys.confirmRevoke': 'Revoke the key “{name}”? Applications using it stop working at once.',
  'keys.new': 'New API key',
  'keys.create': 'Create key',
};
export type Key = keyof typeof en;
type Dictionary = Record<Key, string>;

const ru: Dictionary = {
  'app.name': 'Lectern',
  'nav.catalogue': 'Каталог',
  'nav.myLearning': 'Моё обучение',
  'nav.library': 'Медиатека',
  'nav.courses': 'Курсы',
  'nav.signIn': 'Войти',
  'nav.signUp': 'Создать аккаунт',
  'nav.signOut': 'Выйти',
  'nav.main': 'Главное меню',
  'nav.skip': 'Перейти к содержимому',
  'lang.label': 'Язык',
  'common.loading': 'Загрузка…',
  'common.save': 'Сохранить',
  'common.cancel': 'Отмена',
  'common.delete': 'Удалить',
  'common.error': 'Что-то пошло не так: {message}',
  'common.email': 'Эл. почта',
  'common.password': 'Пароль',
  'common.title': 'Название',
  'setup.title': 'Добро пожаловать в Lectern',
  'setup.intro': 'У этой установки ещё нет администратора. Создайте его с одноразовым токеном, который «lectern serve» напечатал в журнале.',
  'setup.token': 'Токен установки',
  'setup.submit': 'Создать администратора',
  'setup.done': 'Администратор уже создан.',
  'signIn.title': 'Вход',
  'signIn.submit': 'Войти',
  'signIn.noAccount': 'Ещё нет аккаунта?',
  'signIn.providers': 'Или войдите через',
  'signUp.title': 'Создание аккаунта',
  'signUp.submit': 'Создать аккаунт',
  'signUp.haveAccount': 'Уже есть аккаунт?',
  'catalogue.title': 'Каталог',
  'catalogue.empty': 'Пока не опубликовано ни одного курса.',
  'catalogue.free': 'Бесплатно',
  'catalogue.signInFirst': 'Войдите, чтобы увидеть каталог.',
  'course.enrol': 'Записаться бесплатно',
  'course.continue': 'Продолжить с того же места',
  'course.start': 'Начать курс',
  'course.enrolled': 'Вы записаны на курс.',
  'course.paidOnly': 'Курс платный; записывает преподаватель.',
  'course.outline': 'Программа курса',
  'course.progress': 'Пройдено уроков: {done} из {total}',
  'lesson.completed': 'Пройден',
  'lesson.watched': 'Просмотрено {percent}%',
  'lesson.notVideo': 'Этот урок — не видео.',
  'lesson.markDone': 'Отметить пройденным',
  'lesson.resumeAt': 'Продолжаем с {time}',
  'my.title': 'Моё обучение',
  'my.empty': 'Вы пока не записаны ни на один курс.',
  'my.next': 'Дальше: продолжить',
  'library.title': 'Медиатека',
  'library.drop': 'Перетащите видеофайлы сюда или',
  'library.pick': 'выберите файлы',
  'library.uploads': 'Загрузки',
  'library.pause': 'Пауза',
  'library.resume': 'Продолжить',
  'library.speed': '{speed}/с, осталось {left}',
  'library.uploaded': 'Загружено',
  'library.empty': 'Видео пока нет. Перетащите файл выше.',
  'library.preview': 'Просмотр',
  'library.reprocess': 'Обработать заново',
  'library.rename': 'Переименовать',
  'library.confirmDelete': 'Удалить «{title}» со всеми файлами?',
  'library.progress': 'обработка {percent}%',
  'library.eta': 'осталось около {left}',
  'status.waiting_upload': 'Ожидает загрузки',
  'status.uploaded': 'Загружено',
  'status.probing': 'Анализ',
  'status.processing': 'Обработка',
  'status.ready': 'Готово',
  'status.errored': 'Ошибка',
  'status.playable': 'Можно смотреть',
  'courses.title': 'Курсы',
  'courses.new': 'Новый курс',
  'courses.free': 'Бесплатный курс (ученики записываются сами)',
  'courses.create': 'Создать курс',
  'courses.empty': 'Курсов пока нет.',
  'courses.draft': 'Черновик',
  'courses.published': 'Опубликован',
  'courses.archived': 'В архиве',
  'editor.addSection': 'Добавить раздел',
  'editor.sectionTitle': 'Название раздела',
  'editor.addLesson': 'Добавить урок из медиатеки',
  'editor.lessonTitle': 'Название урока',
  'editor.video': 'Видео',
  'editor.up': 'Выше',
  'editor.down': 'Ниже',
  'editor.publish': 'Опубликовать',
  'editor.published': 'Опубликован — ученики найдут его в каталоге.',
  'editor.back': 'Все курсы',
  'player.title': 'Плеер урока',
  'nav.apiKeys': 'API-ключи',
  'nav.webhooks': 'Вебхуки',
  'hooks.title': 'Вебхуки',
  'hooks.shownOnce': 'Скопируйте секрет подписи сейчас: он показывается только один раз. Проверяйте им каждую доставку.',
  'hooks.secret': 'Секрет подписи',
  'hooks.new': 'Новый вебхук',
  'hooks.url': 'URL получателя',
  'hooks.events': 'События (пусто — все)',
  'hooks.create': 'Добавить вебхук',
  'hooks.allEvents': 'Все события',
  'hooks.noDeliveries': 'Доставок пока нет.',
  'hooks.deliveries': 'Последние доставки',
  'hooks.event': 'Событие',
  'hooks.state': 'Состояние',
  'hooks.lastAttempt': 'Последняя попытка',
  'hooks.retry': 'Отправить снова',
  'hooks.confirmDelete': 'Удалить вебхук на {url}?',
  'keys.title': 'API-ключи',
  'keys.intro': 'Ключи позволяют вашим приложениям обращаться к Lectern от вашего имени в пределах выбранных прав. Передавайте ключ как «Authorization: Bearer lk_…».',
  'keys.shownOnce': 'Скопируйте ключ сейчас: он показывается только один раз.',
  'keys.secret': 'Новый ключ',
  'keys.copy': 'Копировать',
  'keys.name': 'Название',
  'keys.prefix': 'Ключ',
  'keys.scopes': 'Права',
  'keys.lastUsed': 'Последнее использование',
  'keys.revoke': 'Отозвать',
  'keys.revoked': 'Отозван',
  'keys.confirmRevoke': 'Отозвать ключ «{name}»? Приложения с ним сразу перестанут работать.',
  'keys.new': 'Новый API-ключ',
  'keys.create': 'Создать ключ',
};

export type Lang = 'en' | 'ru';
const dictionaries: Record<Lang, Dictionary> = { en, ru };
const LANG_KEY = 'lectern.lang';

export function initialLang(): Lang {
  const chosen = localStorage.getItem(LANG_KEY);
  if (chosen === 'en' || chosen === 'ru') return chosen;
  for (const language of navigator.languages ?? [navigator.language]) {
    if (language.toLowerCase().startsWith('ru')) return 'ru';
    if (language.toLowerCase().startsWith('en')) return 'en';
  }
  return 'en';
}

export function rememberLang(lang: Lang) {
  localStorage.setItem(LANG_KEY, lang);
  document.documentElement.lang = lang;
}

export type T = (key: Key, values?: Record<string, string | number>) => string;

export function translator(lang: Lang): T {
  return (key, values) => {
    let text = dictionaries[lang][key] ?? key;
    for (const [name, value] of Object.entries(values ?? {})) text = text.replace(`{${name}}`, String(value));
    return text;
  };
}

export const I18n = createContext<{ lang: Lang; t: T; setLang: (lang: Lang) => void }>({
  lang: 'en',
  t: translator('en'),
  setLang: () => {},
});
export const useI18n = () => useContext(I18n);

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
