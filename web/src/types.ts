// The API's shapes the console reads (the subset it uses; see /openapi.json for all fields).
export interface Course {
  course_id: string;
  title: string;
  description: string;
  status: 'draft' | 'published' | 'archived';
  free: boolean;
}
export interface Lesson {
  lesson_id: string;
  section_id: string;
  position: number;
  title: string;
  kind: 'video' | 'text' | 'link';
  asset_id: string | null;
  duration_ms: number | null;
  body: string | null;
  url: string | null;
}
export interface Section {
  section_id: string;
  title: string;
  position: number;
  lessons: Lesson[];
}
export interface Outline {
  course: Course;
  sections: Section[];
}
export interface LessonProgress {
  covered_seconds: number;
  duration_seconds: number;
  covered_ratio: number;
  completed: boolean;
  gaps: [number, number][];
  position_ms: number;
}
export interface LearnerLesson extends Lesson {
  progress: LessonProgress;
}
export interface ResumePoint {
  lesson_id: string;
  position_ms: number;
  course_completed: boolean;
}
export interface CourseProgress {
  lessons_total: number;
  lessons_completed: number;
  covered_ratio: number;
  completed: boolean;
}
export interface LearnerOutline {
  course: Course;
  enrollment: { enrollment_id: string; status: string } | null;
  progress: CourseProgress;
  resume: ResumePoint | null;
  sections: { section_id: string; title: string; lessons: LearnerLesson[] }[];
}
export interface DashboardEntry {
  course: Course;
  progress: CourseProgress;
  next: ResumePoint | null;
}
export interface Asset {
  id: string;
  title: string;
  status: 'waiting_upload' | 'uploaded' | 'probing' | 'processing' | 'ready' | 'errored';
  playable: boolean;
  progress: number | null;
  eta_seconds: number | null;
  error: { code: string; message: string } | null;
  source: { size: number | null; duration: number | null } | null;
  created_at: string;
}
export interface PlaybackSession {
  session_id: string;
  hls_url: string;
  poster_url: string;
  storyboard_url: string;
}
