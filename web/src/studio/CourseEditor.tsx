import { FormEvent, useState } from 'react';
import { api } from '../api';
import { useI18n } from '../i18n';
import type { Asset, Outline } from '../types';
import { ErrorMessage, Link } from '../ui';
import { useLoad } from '../pages/Learner';

// The outline of one course: sections and their lessons, added from the media library,
// reordered with buttons (which the keyboard reaches like any other), and published.
export default function CourseEditor({ courseId }: { courseId: string }) {
  const { t } = useI18n();
  const outline = useLoad(() => api<Outline>('GET', `v1/courses/${courseId}`), [courseId]);
  const assets = useLoad(() => api<{ assets: Asset[] }>('GET', 'v1/assets?limit=100'), []);
  const [error, setError] = useState<unknown>(null);
  const [sectionTitle, setSectionTitle] = useState('');
  const [status, setStatus] = useState('');
  const run = (work: Promise<unknown>, done?: string) =>
    work.then(() => {
      setError(null);
      if (done) setStatus(done);
      outline.reload();
    }, setError);

  const data = outline.data;
  if (outline.error) return <ErrorMessage error={outline.error} />;
  if (!data) return <p role="status">{t('common.loading')}</p>;

  const order = (sections: Outline['sections']) =>
    api<Outline>('PUT', `v1/courses/${courseId}/order`, {
      sections: sections.map((section) => ({ section_id: section.section_id, lessons: section.lessons.map((lesson) => lesson.lesson_id) })),
    });
  const moveSection = (index: number, by: number) => {
    const sections = [...data.sections];
    const [moved] = sections.splice(index, 1);
    sections.splice(index + by, 0, moved);
    run(order(sections), `${moved.title}: ${by < 0 ? t('editor.up') : t('editor.down')}`);
  };
  const moveLesson = (sectionIndex: number, index: number, by: number) => {
    const sections = data.sections.map((section) => ({ ...section, lessons: [...section.lessons] }));
    const lessons = sections[sectionIndex].lessons;
    const [moved] = lessons.splice(index, 1);
    lessons.splice(index + by, 0, moved);
    run(order(sections), `${moved.title}: ${by < 0 ? t('editor.up') : t('editor.down')}`);
  };
  const addSection = (event: FormEvent) => {
    event.preventDefault();
    run(api('POST', `v1/courses/${courseId}/sections`, { title: sectionTitle }).then(() => setSectionTitle('')));
  };
  const playable = assets.data?.assets.filter((asset) => asset.playable) ?? [];

  return (
    <section>
      <p className="crumbs">
        <Link to="/studio/courses">{t('editor.back')}</Link>
      </p>
      <h1>{data.course.title}</h1>
      <p>
        <span className={`badge badge-${data.course.status}`}>{t(`courses.${data.course.status}` as const)}</span>
      </p>
      <p role="status" className="visually-hidden">
        {status}
      </p>
      <ErrorMessage error={error} />
      <ol className="editor-sections">
        {data.sections.map((section, sectionIndex) => (
          <li key={section.section_id} className="card">
            <div className="row">
              <h2>{section.title}</h2>
              <button type="button" aria-label={`${t('editor.up')}: ${section.title}`} className="secondary" disabled={sectionIndex === 0} onClick={() => moveSection(sectionIndex, -1)}>
                {t('editor.up')}
              </button>
              <button type="button" aria-label={`${t('editor.down')}: ${section.title}`} className="secondary" disabled={sectionIndex === data.sections.length - 1} onClick={() => moveSection(sectionIndex, 1)}>
                {t('editor.down')}
              </button>
            </div>
            <ol className="editor-lessons">
              {section.lessons.map((lesson, index) => (
                <li key={lesson.lesson_id} className="row" data-testid="editor-lesson">
                  <span>{lesson.title}</span>
                  <button type="button" aria-label={`${t('editor.up')}: ${lesson.title}`} className="secondary" disabled={index === 0} onClick={() => moveLesson(sectionIndex, index, -1)}>
                    {t('editor.up')}
                  </button>
                  <button type="button" aria-label={`${t('editor.down')}: ${lesson.title}`} className="secondary" disabled={index === section.lessons.length - 1} onClick={() => moveLesson(sectionIndex, index, 1)}>
                    {t('editor.down')}
                  </button>
                </li>
              ))}
            </ol>
            <AddLesson sectionId={section.section_id} assets={playable} onAdded={outline.reload} />
          </li>
        ))}
      </ol>
      <form onSubmit={addSection} className="card inline-form">
        <label className="field">
          <span>{t('editor.sectionTitle')}</span>
          <input value={sectionTitle} onChange={(event) => setSectionTitle(event.target.value)} required />
        </label>
        <button type="submit">{t('editor.addSection')}</button>
      </form>
      {data.course.status === 'draft' ? (
        <button type="button" onClick={() => run(api('POST', `v1/courses/${courseId}/publish`), t('editor.published'))}>
          {t('editor.publish')}
        </button>
      ) : (
        <p>{data.course.status === 'published' && t('editor.published')}</p>
      )}
    </section>
  );
}

function AddLesson({ sectionId, assets, onAdded }: { sectionId: string; assets: Asset[]; onAdded: () => void }) {
  const { t } = useI18n();
  const [assetId, setAssetId] = useState('');
  const [title, setTitle] = useState('');
  const [error, setError] = useState<unknown>(null);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const asset = assets.find((candidate) => candidate.id === assetId);
    api('POST', `v1/sections/${sectionId}/lessons`, { title: title || asset?.title || 'Lesson', kind: 'video', asset_id: assetId }).then(() => {
      setTitle('');
      setAssetId('');
      setError(null);
      onAdded();
    }, setError);
  };
  return (
    <form onSubmit={submit} className="inline-form add-lesson">
      <label className="field">
        <span>{t('editor.video')}</span>
        <select value={assetId} onChange={(event) => setAssetId(event.target.value)} required>
          <option value="">—</option>
          {assets.map((asset) => (
            <option key={asset.id} value={asset.id}>
              {asset.title}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>{t('editor.lessonTitle')}</span>
        <input value={title} onChange={(event) => setTitle(event.target.value)} />
      </label>
      <button type="submit">{t('editor.addLesson')}</button>
      <ErrorMessage error={error} />
    </form>
  );
}
