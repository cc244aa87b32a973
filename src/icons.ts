import { LabIcon } from '@jupyterlab/ui-components';

import hopsworksSvgstr from '../style/icons/hopsworks.svg';

/**
 * The Hopsworks icon, shown on the left-area tab of the panel.
 */
export const hopsworksIcon = new LabIcon({
  name: 'hopsworks-lab:hopsworks',
  svgstr: hopsworksSvgstr
});
