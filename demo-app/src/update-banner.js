// "Update available": shown when a new service worker has installed and waits; the update happens only
// when the user presses the button (service-worker/update-consent.js).
import { $ } from './dom.js';

export function offerUpdate(activate) {
  $('#update').hidden = false;
  $('#update-now').onclick = () => {
    $('#update-now').disabled = true;
    activate();
  };
}
