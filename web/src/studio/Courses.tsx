import { FormEvent, useState } from 'react';
import { api } from '../api';
import { useI18n } from '../i18n';
import { navigate } from '../router';
import type { Course } from '../types';
import { ErrorMessage, Link } from '../ui';
import { useLoad } from '../pages/Learner';

export default function Courses() {
  const { t } = useI18n();
  const { data, error } = useLoad(() => api<{ courses: Course[] }>('GET', 'v1/courses?limit=100'), []);
  const [title, setTitle] = useState('');
  const [description, setDescription] = useState('');
  const [free, setFree] = useState(true);
  const [createError, setCreateError] = useState<unknown>(null);
  const create = async (event: FormEvent) => {
    event.preventDefault();
    try {
      const course = await api<Course>('POST', 'v1/courses', { title, description, free });
      navigate(`/studio/courses/${course.course_id}`);
    } catch (caught) {
      setCreateError(caught);
    }
  };
  return (
    <section>
      <h1>{t('courses.title')}</h1>
      <ErrorMessage error={error} />
      {data && data.courses.length === 0 && <p>{t('courses.empty')}</p>}
      <ul className="cards">
        {data?.courses.map((course) => (
          <li key={course.course_id} className="card">
            <h2>
              <Link to={`/studio/courses/${course.course_id}`}>{course.title}</Link>
            </h2>
            <span className={`badge badge-${course.status}`}>{t(`courses.${course.status}` as const)}</span>
          </li>
        ))}
      </ul>
      <form onSubmit={create} className="card form" aria-labelledby="new-course">
        <h2 id="new-course">{t('courses.new')}</h2>
        <label className="field">
          <span>{t('common.title')}</span>
          <input value={title} onChange={(event) => setTitle(event.target.value)} required />
        </label>
        <label className="field">
          <span>Description</span>
          <textarea value={description} onChange={(event) => setDescription(event.target.value)} rows={3} />
        </label>
        <label className="check">
          <input type="checkbox" checked={free} onChange={(event) => setFree(event.target.checked)} />
          <span>{t('courses.free')}</span>
        </label>
        <ErrorMessage error={createError} />
        <button type="submit">{t('courses.create')}</button>
      </form>
    </section>
  );
}
