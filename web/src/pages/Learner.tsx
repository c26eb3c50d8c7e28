import { useCallback, useEffect, useState } from 'react';
import { ApiError, api } from '../api';
import { formatDuration, useI18n } from '../i18n';
import { navigate } from '../router';
import type { Course, DashboardEntry, LearnerLesson, LearnerOutline } from '../types';
import { ErrorMessage, Link, ProgressBar } from '../ui';

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(load, deps);
  const reload = useCallback(() => {
    run().then(setData, setError);
  }, [run]);
  useEffect(reload, [reload]);
  return { data, error, reload, setData };
}

export function Catalogue() {
  const { t } = useI18n();
  const { data, error } = useLoad(() => api<{ courses: Course[] }>('GET', 'v1/catalog'), []);
  return (
    <section>
      <h1>{t('catalogue.title')}</h1>
      <ErrorMessage error={error} />
      {data && data.courses.length === 0 && <p>{t('catalogue.empty')}</p>}
      <ul className="cards">
        {data?.courses.map((course) => (
          <li key={course.course_id} className="card">
            <h2>
              <Link to={`/courses/${course.course_id}`}>{course.title}</Link>
            </h2>
            {course.description && <p>{course.description}</p>}
            {course.free && <span className="badge">{t('catalogue.free')}</span>}
          </li>
        ))}
      </ul>
    </section>
  );
}

export function lessonPath(courseId: string, lessonId: string, positionMs?: number) {
  return `/learn/${courseId}/${lessonId}${positionMs ? `?t=${Math.floor(positionMs / 1000)}` : ''}`;
}

export function Outline({ outline, currentLesson, level = 2 }: { outline: LearnerOutline; currentLesson?: string; level?: 2 | 3 }) {
  const { t } = useI18n();
  const Heading = level === 2 ? 'h2' : 'h3';
  return (
    <nav aria-label={t('course.outline')} className="outline">
      {outline.sections.map((section) => (
        <section key={section.section_id}>
          <Heading>{section.title}</Heading>
          <ol>
            {section.lessons.map((lesson) => (
              <OutlineLesson key={lesson.lesson_id} courseId={outline.course.course_id} lesson={lesson} current={lesson.lesson_id === currentLesson} />
            ))}
          </ol>
        </section>
      ))}
    </nav>
  );
}

function OutlineLesson({ courseId, lesson, current }: { courseId: string; lesson: LearnerLesson; current: boolean }) {
  const { t } = useI18n();
  const progress = lesson.progress;
  const percent = Math.round(progress.covered_ratio * 100);
  const duration = progress.duration_seconds || 1;
  return (
    <li className={current ? 'current' : undefined}>
      <Link to={lessonPath(courseId, lesson.lesson_id)} current={current}>
        {lesson.title}
      </Link>
      <span className="meta">
        {progress.completed ? `✓ ${t('lesson.completed')}` : t('lesson.watched', { percent })}
        {lesson.duration_ms ? ` · ${formatDuration(lesson.duration_ms / 1000)}` : ''}
      </span>
      {lesson.kind === 'video' && (
        // The watched share, with the unwatched gaps drawn as holes.
        <div className="coverage" role="img" aria-label={t('lesson.watched', { percent })}>
          <div className="coverage-fill" />
          {progress.gaps.map(([from, to]) => (
            <div key={from} className="coverage-gap" style={{ left: `${(from / duration) * 100}%`, width: `${((to - from) / duration) * 100}%` }} />
          ))}
        </div>
      )}
    </li>
  );
}

export function CoursePage({ courseId }: { courseId: string }) {
  const { t } = useI18n();
  const { data, error, reload } = useLoad(() => api<LearnerOutline>('GET', `v1/me/courses/${courseId}`), [courseId]);
  const [joinError, setJoinError] = useState<unknown>(null);
  const enrol = async () => {
    setJoinError(null);
    try {
      await api('POST', `v1/courses/${courseId}/join`);
      reload();
    } catch (caught) {
      setJoinError(caught);
    }
  };
  if (error) return <ErrorMessage error={error} />;
  if (!data) return <p role="status">{t('common.loading')}</p>;
  const first = data.sections.flatMap((section) => section.lessons)[0];
  const enrolled = data.enrollment !== null;
  return (
    <section>
      <h1>{data.course.title}</h1>
      {data.course.description && <p className="lead">{data.course.description}</p>}
      {enrolled ? (
        <div className="card">
          <p>{t('course.enrolled')}</p>
          <ProgressBar value={data.progress.covered_ratio} label={t('course.progress', { done: data.progress.lessons_completed, total: data.progress.lessons_total })} />
          <p>{t('course.progress', { done: data.progress.lessons_completed, total: data.progress.lessons_total })}</p>
          {data.resume ? (
            <button type="button" onClick={() => navigate(lessonPath(courseId, data.resume!.lesson_id))}>
              {t('course.continue')}
            </button>
          ) : (
            first && (
              <button type="button" onClick={() => navigate(lessonPath(courseId, first.lesson_id))}>
                {t('course.start')}
              </button>
            )
          )}
        </div>
      ) : data.course.free ? (
        <button type="button" onClick={enrol}>
          {t('course.enrol')}
        </button>
      ) : (
        <p>{t('course.paidOnly')}</p>
      )}
      <ErrorMessage error={joinError instanceof ApiError ? joinError : joinError} />
      <h2>{t('course.outline')}</h2>
      <Outline outline={data} level={3} />
    </section>
  );
}

export function MyLearning() {
  const { t } = useI18n();
  const { data, error } = useLoad(() => api<{ enrollments: DashboardEntry[] }>('GET', 'v1/me/enrollments'), []);
  return (
    <section>
      <h1>{t('my.title')}</h1>
      <ErrorMessage error={error} />
      {data && data.enrollments.length === 0 && (
        <p>
          {t('my.empty')} <Link to="/">{t('nav.catalogue')}</Link>
        </p>
      )}
      <ul className="cards">
        {data?.enrollments.map((entry) => (
          <li key={entry.course.course_id} className="card">
            <h2>
              <Link to={`/courses/${entry.course.course_id}`}>{entry.course.title}</Link>
            </h2>
            <ProgressBar value={entry.progress.covered_ratio} label={t('course.progress', { done: entry.progress.lessons_completed, total: entry.progress.lessons_total })} />
            <p>{t('course.progress', { done: entry.progress.lessons_completed, total: entry.progress.lessons_total })}</p>
            {entry.next && (
              <Link to={lessonPath(entry.course.course_id, entry.next.lesson_id)} className="button">
                {t('course.continue')}
              </Link>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
