/** Worker threads alive in this process, as Node's diagnostic report lists them. */
export function liveWorkers(): number {
  return (process.report.getReport() as { workers: unknown[] }).workers.length;
}
