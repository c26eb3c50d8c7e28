//! Training: courses, enrolments and progress (being written on another branch), and the
//! certificates of completed courses.

pub mod certificates;
