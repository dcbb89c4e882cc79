/** How a run writes its timeline: the workflow's time as ISO 8601, and excerpts of long command output. */
const EXCERPT = 2000;

/** The workflow's current time (deterministic: the time of the task being run). */
export const now = () => new Date().toISOString();

/** The last EXCERPT characters of a command's output, marked when cut. */
export const excerpt = (text: string) => (text.length > EXCERPT ? `...${text.slice(-EXCERPT)}` : text);
