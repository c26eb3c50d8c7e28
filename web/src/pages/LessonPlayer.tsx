import { useEffect, useRef, useState } from 'react';
import { api } from '../api';
import { attachHls } from '../hls';
import { formatDuration, useI18n } from '../i18n';
import { reportProgress } from '../progress';
import { query } from '../router';
import type { LearnerOutline, PlaybackSession } from '../types';
import { ErrorMessage, Link } from '../ui';
import { Outline, useLoad } from './Learner';

// The playback session's fields, flattened, and the lesson's reporting credentials.
interface LessonSession extends PlaybackSession {
  lesson_id: string;
  progress_url: string;
  progress_token: string;
  resume_position_ms: number;
}

export default function LessonPlayer({ courseId, lessonId }: { courseId: string; lessonId: string }) {
  const { t } = useI18n();
  const outline = useLoad(() => api<LearnerOutline>('GET', `v1/me/courses/${courseId}`), [courseId]);
  const lesson = outline.data?.sections.flatMap((section) => section.lessons).find((candidate) => candidate.lesson_id === lessonId);
  const reload = outline.reload;
  return (
    <div className="player-page">
      <div className="player-main">
        {outline.data && (
          <p className="crumbs">
            <Link to={`/courses/${courseId}`}>{outline.data.course.title}</Link>
          </p>
        )}
        <h1>{lesson?.title ?? t('player.title')}</h1>
        <ErrorMessage error={outline.error} />
        {lesson && lesson.kind === 'video' && <VideoLesson lessonId={lessonId} onReported={reload} />}
        {lesson && lesson.kind !== 'video' && <OtherLesson lessonId={lessonId} body={lesson.body} url={lesson.url} onDone={reload} />}
      </div>
      {outline.data && (
        <aside className="player-outline">
          <Outline outline={outline.data} currentLesson={lessonId} />
        </aside>
      )}
    </div>
  );
}

function VideoLesson({ lessonId, onReported }: { lessonId: string; onReported: () => void }) {
  const { t } = useI18n();
  const video = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState<unknown>(null);
  const [resumeAt, setResumeAt] = useState<number | null>(null);
  const reported = useRef(onReported);
  reported.current = onReported;

  useEffect(() => {
    let cleanup: (() => void)[] = [];
    let cancelled = false;
    (async () => {
      const session = await api<LessonSession>('POST', `v1/lessons/${lessonId}/playback`, {});
      const element = video.current;
      if (cancelled || !element) return;
      if (session.poster_url) element.poster = session.poster_url;
      // `?t=` (seconds) overrides where the server says the learner left off.
      const start = query('t') !== null ? Number(query('t')) * 1000 : session.resume_position_ms;
      setResumeAt(start > 0 ? start : null);
      element.dataset.resumeMs = String(start);
      element.addEventListener(
        'loadedmetadata',
        () => {
          if (start > 0) element.currentTime = start / 1000;
        },
        { once: true },
      );
      cleanup.push(await attachHls(element, session.hls_url));
      cleanup.push(reportProgress(element, session.progress_url, session.progress_token, () => reported.current()));
    })().catch((caught) => !cancelled && setError(caught));
    return () => {
      cancelled = true;
      cleanup.reverse().forEach((done) => done());
      cleanup = [];
    };
  }, [lessonId]);

  return (
    <div>
      <video ref={video} className="lesson-video" controls playsInline aria-label={t('player.title')} />
      {resumeAt !== null && <p className="meta">{t('lesson.resumeAt', { time: formatDuration(resumeAt / 1000) })}</p>}
      <ErrorMessage error={error} />
    </div>
  );
}

function OtherLesson({ lessonId, body, url, onDone }: { lessonId: string; body: string | null; url: string | null; onDone: () => void }) {
  const { t } = useI18n();
  const [error, setError] = useState<unknown>(null);
  return (
    <div className="card">
      {body && <p className="lesson-body">{body}</p>}
      {url && (
        <p>
          <a href={url} target="_blank" rel="noreferrer">
            {url}
          </a>
        </p>
      )}
      <button type="button" onClick={() => api('POST', `v1/me/lessons/${lessonId}/complete`).then(onDone, setError)}>
        {t('lesson.markDone')}
      </button>
      <ErrorMessage error={error} />
    </div>
  );
}
