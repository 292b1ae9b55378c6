// The code funnel by country (dashboard_otp): sent, delivered, entered, verified, and the
// share never entered, which SMS pumping drives up.
import { useMemo } from 'react';
import type { OtpRow } from '../api';
import { formatCount, formatPercent } from '../format';
import { conversion, countryName, neverEntered, otpTotals, pumpingSuspect, PUMPING_MIN_SENT, PUMPING_SHARE } from '../otp';
import { Panel, Stats, TableBox, type PanelStatus } from '../Panel';

export interface OtpPanelProps {
  rows: OtpRow[] | null;
  status: PanelStatus;
  rangeText: string;
  onRetry: () => void;
}

export function OtpPanel({ rows, status, rangeText, onRetry }: OtpPanelProps) {
  const total = useMemo(() => (rows ? otpTotals(rows) : null), [rows]);
  const suspects = rows?.filter(pumpingSuspect) ?? [];
  return (
    <Panel
      id="otp"
      title="OTP conversion by country"
      wide
      description={
        <>
          Codes sent, delivered, entered and verified. Codes never entered are what SMS pumping leaves behind: a country is flagged
          when {formatPercent(PUMPING_SHARE, 0)} or more of at least {PUMPING_MIN_SENT} codes were never entered.{' '}
          <code>sms_otp.dashboard_otp</code>
        </>
      }
      status={status}
      empty={!rows || rows.length === 0 || (total?.requested ?? 0) + (total?.sent ?? 0) === 0}
      emptyText={`No code was requested in ${rangeText}.`}
      onRetry={onRetry}
    >
      {rows && total && (
        <>
          <Stats
            items={[
              { label: 'Codes sent', value: formatCount(total.sent) },
              { label: 'Verified', value: formatPercent(conversion(total)), testId: 'otp-conversion' },
              { label: 'Never entered', value: formatPercent(neverEntered(total)), testId: 'otp-never-entered' },
              {
                label: 'Flagged countries',
                value: suspects.length ? suspects.map((r) => r.country ?? 'ZZ').join(', ') : 'none',
                tone: suspects.length ? 'bad' : undefined,
                testId: 'otp-flagged',
              },
            ]}
          />
          <TableBox>
            <table aria-label="OTP conversion by country">
              <thead>
                <tr>
                  <th scope="col">Country</th>
                  <th scope="col" className="dash-opt">Requested</th>
                  <th scope="col">Sent</th>
                  <th scope="col" className="dash-opt">Delivered</th>
                  <th scope="col" className="dash-opt">Entered</th>
                  <th scope="col" className="dash-opt">Verified</th>
                  <th scope="col">Conversion</th>
                  <th scope="col">Never entered</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => {
                  const suspect = pumpingSuspect(r);
                  const conv = conversion(r);
                  return (
                    <tr key={`${r.country}/${r.prefix ?? ''}`} className={suspect ? 'dash-row-bad' : undefined}>
                      <th scope="row" title={countryName(r.country)}>
                        {/* On a phone, the code alone. */}
                        <span className="dash-opt">{countryName(r.country)}</span>
                        <span className="dash-phone-only">{r.country ?? 'ZZ'}</span>
                        {r.prefix && <span className="dash-muted"> {r.prefix}</span>}
                      </th>
                      <td className="dash-opt">{formatCount(r.requested)}</td>
                      <td>{formatCount(r.sent)}</td>
                      <td className="dash-opt">{formatCount(r.delivered)}</td>
                      <td className="dash-opt">{formatCount(r.entered)}</td>
                      <td className="dash-opt">{formatCount(r.verified)}</td>
                      <td>
                        <span className="dash-bar" aria-hidden="true">
                          <span style={{ width: `${Math.round((conv ?? 0) * 100)}%` }} />
                        </span>
                        {formatPercent(conv)}
                      </td>
                      <td>
                        {formatPercent(neverEntered(r))}
                        {suspect && <span className="dash-badge dash-tone-bad dash-opt"> possible SMS pumping</span>}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </TableBox>
        </>
      )}
    </Panel>
  );
}
