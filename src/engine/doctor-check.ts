/** One line of the doctor's report: what was checked, whether it holds, and how to fix it. */
export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}
